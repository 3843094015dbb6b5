/**
 * Waiting steps through a Sentinel failover: the service (worker + callback route, built
 * dist/main.js) connects through REDIS_SENTINELS; 50 steps wait for their partner's callback
 * and 5 have a deadline that passes around the failover. Once the waiting records are on the
 * replica (WAIT), the master is killed with -9 and Sentinel promotes the replica. Callbacks sent
 * during the failover and after it complete every step exactly once on the new master, and the
 * short steps end with CALLBACK_TIMEOUT.
 *
 * The WAIT is the test's, not the service's: by default the service does not wait for replicas, so a write
 * acknowledged in the last moment before a crash can be lost with the old master
 * (docs/callbacks.md#failover). This test proves what holds once the writes are replicated.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { freePort, startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startCallbackPartner, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { jobData } from '../helpers/harness.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { client, counts, queueOn, readEvents, workerEnv } from './fixtures.js';

const LONG = 50;
const SHORT = 5;
/** Long enough that no short step times out before the kill on a loaded box; checked below. */
const SHORT_TIMEOUT_MS = 6000;
const DEADLINES = 'bull:invoke-api:cb-deadlines';

let setup: RedisSentinelSetup | undefined;
let up: Upstream | undefined;
let worker: WorkerProcess | undefined;
const conns: Redis[] = [];
let paths: Map<string, string>;

beforeAll(async () => {
  setup = await startRedisSentinel({ aof: true, downAfterMs: 1000, failoverTimeoutMs: 3000 });
  ({ up, paths } = await startCallbackPartner());
}, 60_000);
afterAll(async () => {
  await worker?.stop(3000);
  for (const c of conns) c.disconnect();
  await up?.close();
  await setup?.destroy();
});

const open = (url: string) => {
  const c = client(url);
  c.on('error', () => undefined); // the master's connection sees it die
  conns.push(c);
  return c;
};

function waitingJobs(n: number, label: string, timeoutMs: number) {
  return Array.from({ length: n }, (_, i) => {
    const data = jobData({
      runId: `${label}-${i}-${randomBytes(3).toString('hex')}`,
      request: {
        method: 'POST',
        url: `${up!.url}/orders`,
        body: { runId: '{{ run.id }}', callbackUrl: '{{ callback.url }}' },
      },
      wait: { callback: true, timeoutMs },
    });
    return { name: 'invoke', data, opts: { jobId: idempotencyKey(data), attempts: 3 } };
  });
}

/** A partner that retries until it gets a final answer (the route answers 503 while Redis is away). */
async function callBack(
  base: string,
  path: string,
  body: unknown,
): Promise<{ status: number; at: number }> {
  for (;;) {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).catch(() => undefined);
    await res?.arrayBuffer();
    if (res && res.status !== 503) return { status: res.status, at: Date.now() };
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function role(r: Redis): Promise<string> {
  return String(((await r.call('ROLE')) as unknown[])[0]);
}

it('waiting steps survive a Sentinel failover (master kill -9): each completes once, late ones time out', async () => {
  const s = setup!;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  worker = await startWorker(
    workerEnv('redis://sentinel-managed:6379', {
      REDIS_SENTINELS: s.sentinels,
      REDIS_SENTINEL_NAME: 'mymaster',
      INVOKE_API_ENABLED: 'true',
      PORT: String(port),
      INVOKE_PUBLIC_URL: base,
      INVOKE_CALLBACK_KEY: randomBytes(32).toString('base64'),
      INVOKE_CALLBACK_SWEEP_MS: '200',
    }),
  );
  const master = open(s.master.url);
  const replica = open(s.replica.url);
  const sentinel = open(s.sentinel.url);
  const queue = queueOn(master);
  const long = waitingJobs(LONG, 'long', 10 * 60_000);
  const short = waitingJobs(SHORT, 'short', SHORT_TIMEOUT_MS);
  await queue.addBulk([...long, ...short]);
  await waitFor(
    async () => (await counts(queue)).completed === LONG + SHORT || undefined,
    'every call made and its step waiting',
    30_000,
  );
  expect(await master.zcard(DEADLINES)).toBe(LONG + SHORT);
  expect(await readEvents(master)).toEqual([]);
  await queue.close();

  // Sentinel must know the replica, or it has nothing to promote.
  await waitFor(async () => {
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
    return (
      replicas.some(
        (r) =>
          r[r.indexOf('port') + 1] === String(s.replica.port) &&
          r[r.indexOf('flags') + 1] === 'slave',
      ) || undefined
    );
  }, 'Sentinel to see the replica');
  // Every write so far is on the replica: the fence is acknowledged by it, and replication is in order.
  await master.set('test:fence', '1');
  expect(await master.call('WAIT', '1', '5000')).toBe(1);
  expect(await replica.zcard(DEADLINES)).toBe(LONG + SHORT);
  const shortDeadlines = await Promise.all(
    short.map(async (j) => Number(await replica.hget(`bull:invoke-api:cb:${j.opts.jobId}`, 'dl'))),
  );

  const killedAt = Date.now();
  // Otherwise the short steps timed out before the failover and the test proves less than it says.
  expect(
    Math.min(...shortDeadlines),
    'short deadlines still ahead at the kill (a very slow box?)',
  ).toBeGreaterThan(killedAt);
  await s.master.stop('SIGKILL');
  master.disconnect();

  // Half the partners call back during the failover (retrying 503 like a partner should).
  const during = long
    .slice(0, LONG / 2)
    .map((j) => callBack(base, paths.get(j.data.runId)!, { verdict: 'ok', run: j.data.runId }));
  let promotedAt = 0;
  await waitFor(
    async () => {
      const addr = (await sentinel.call(
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        'mymaster',
      )) as string[];
      if (Number(addr[1]) !== s.replica.port || (await role(replica)) !== 'master')
        return undefined;
      promotedAt = Date.now();
      return true;
    },
    'Sentinel to promote the replica',
    60_000,
  );
  const duringAnswers = await Promise.all(during);

  // The other half after the promotion: first answers (202), then every callback again (200).
  const after = await Promise.all(
    long
      .slice(LONG / 2)
      .map((j) => callBack(base, paths.get(j.data.runId)!, { verdict: 'ok', run: j.data.runId })),
  );
  // On a failure, the service's warnings say which connection did not come back.
  if (after.some((a) => a.status !== 202))
    console.log(JSON.stringify(worker.logs.filter((l) => (l.level ?? 0) >= 40).slice(0, 30)));
  expect(after.map((a) => a.status)).toEqual(after.map(() => 202));
  // During the failover a first answer may be a 200: the partner retried a 503 whose write then went through.
  expect(duringAnswers.filter((a) => a.status !== 202 && a.status !== 200)).toEqual([]);
  const repeats = await Promise.all(
    long.map((j) => callBack(base, paths.get(j.data.runId)!, { verdict: 'other' })),
  );
  expect(repeats.map((a) => a.status)).toEqual(long.map(() => 200));

  await waitFor(
    async () =>
      (await readEvents(replica)).filter((e) => e.errorCode === 'CALLBACK_TIMEOUT').length ===
        SHORT || undefined,
    'the short steps to time out',
    30_000,
  );
  const timedOutAt = Date.now();

  // The truth is on the promoted replica.
  const events = await readEvents(replica);
  expect(events).toHaveLength(LONG + SHORT);
  expect(new Set(events.map((e) => e.eventId)).size).toBe(LONG + SHORT);
  for (const j of long) {
    expect(
      events.find((e) => e.runId === j.data.runId),
      j.data.runId,
    ).toMatchObject({ type: 'invoke.completed', eventId: j.opts.jobId });
    const saved = JSON.parse((await replica.hget(`journey:ctx:{${j.data.runId}}`, 'loyalty'))!);
    expect(saved).toMatchObject({
      ok: true,
      body: { verdict: 'ok', run: j.data.runId },
      callback: { at: expect.any(String) },
      eventId: j.opts.jobId,
    });
  }
  for (const j of short)
    expect(
      events.find((e) => e.runId === j.data.runId),
      j.data.runId,
    ).toMatchObject({ type: 'invoke.failed', errorCode: 'CALLBACK_TIMEOUT' });
  expect(await replica.zcard(DEADLINES)).toBe(0);
  expect(up!.requests).toHaveLength(LONG + SHORT); // no call made twice
  expect(worker.logs.filter(isCrashLog)).toEqual([]);

  const firstAccepted = Math.min(...duringAnswers.map((a) => a.at));
  const lastDuring = Math.max(...duringAnswers.map((a) => a.at));
  const late = Math.max(...shortDeadlines);
  console.log(
    `[callbacks failover] master kill -9 -> replica promoted: ${promotedAt - killedAt} ms; first callback accepted ${firstAccepted - killedAt} ms, all ${LONG / 2} sent during the failover ${lastDuring - killedAt} ms after the kill (${duringAnswers.filter((a) => a.status === 200).length} answered 200 after a retried 503); ${SHORT} timeouts emitted ${timedOutAt - late} ms after the last deadline (${late - killedAt} ms after the kill)`,
  );
}, 600_000); // the first run after a change builds dist/ (tsc) on a shared box
