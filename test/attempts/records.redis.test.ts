/**
 * Per-attempt records against a real worker, Redis and a loopback partner that fails twice
 * (503, echoing the credential it was sent, with a long body and headers off the allow-list)
 * and then succeeds: every attempt is on record, masked, bounded, removed with the job, and
 * shown by ops.inspect, GET /v1/invocations/{id}?attempts=true and the built CLI.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { createOps } from '../../src/ops/index.js';
import { buildServer } from '../../src/api/server.js';
import { createProducerApi } from '../../src/api/producers.js';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/config.js';
import type { AttemptRecord, JobRecord } from '../../src/attempts/record.js';
import { readRecords } from '../../src/attempts/store.js';

const SECRET = 'sk_live_Zq9+/secret value';
let up: Upstream;
const harnesses: Harness[] = [];

beforeAll(async () => {
  // Per path: fails (503) until the path's request count reaches its third call.
  const seen = new Map<string, number>();
  up = await startUpstream((r, res) => {
    const path = r.url.split('?')[0]!;
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    if (n <= 2 || path.startsWith('/always')) {
      return json(
        res,
        503,
        { down: true, echo: r.headers.authorization, pad: 'x'.repeat(5000) },
        { 'x-request-id': `req-${n}`, 'set-cookie': 'sid=abc', 'x-internal-trace': 'hidden' },
      );
    }
    return json(res, 200, { points: 42 }, { 'x-request-id': `req-${n}` });
  });
});
afterAll(() => up?.close());
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function start(env: Record<string, string> = {}): Promise<Harness> {
  const h = await startHarness({ INVOKE_SECRET_PARTNER_KEY: SECRET, ...env });
  harnesses.push(h);
  return h;
}

async function addJob(
  h: Harness,
  path: string,
  attempts: number,
  extra: Record<string, unknown> = {},
) {
  const data = jobData({
    request: {
      url: `${up.url}${path}?api_key={{ secrets.PARTNER_KEY }}&q=1`,
      headers: { authorization: 'Bearer {{ secrets.PARTNER_KEY }}', 'x-trace': 'abc' },
    },
    ...extra,
  });
  const id = idempotencyKey(data);
  await h.queue.add('invoke', data, { jobId: id, attempts, backoff: { type: 'fixed', delay: 10 } });
  return id;
}

const jobKey = (h: Harness, id: string) => `${h.queue.qualifiedName}:${id}`;
const attemptsOf = (records: JobRecord[]) =>
  records.filter((r): r is AttemptRecord => r.kind === 'attempt');

async function recordsOf(h: Harness, id: string, count: number): Promise<AttemptRecord[]> {
  return waitFor(async () => {
    const r = attemptsOf((await readRecords(h.redis, jobKey(h, id))).records);
    return r.length >= count && r;
  }, `${count} records of ${id}`);
}

describe('per-attempt records', { timeout: 60_000 }, () => {
  it('records each attempt of a job that fails twice then succeeds, masked and scrubbed', async () => {
    const h = await start();
    const id = await addJob(h, '/flaky', 3);
    await waitForJob(h.queue, id, 'completed');
    const records = await recordsOf(h, id, 3);

    expect(records.map((r) => [r.n, r.outcome, r.status, r.code])).toEqual([
      [1, 'retry', 503, 'HTTP_STATUS'],
      [2, 'retry', 503, 'HTTP_STATUS'],
      [3, 'completed', 200, null],
    ]);
    const [first, , last] = records as [AttemptRecord, AttemptRecord, AttemptRecord];
    expect(first.method).toBe('GET');
    expect(first.url).toBe(`${up.url}/flaky?api_key=%5BREDACTED%5D&q=1`);
    expect(first.headers).toMatchObject({
      authorization: 'Bearer [REDACTED]',
      'x-trace': 'abc',
      'user-agent': h.cfg.INVOKE_USER_AGENT,
    });
    expect(first.detail).toMatch(/answered 503/);
    // Allow-listed response headers only.
    expect(first.responseHeaders).toMatchObject({
      'content-type': 'application/json',
      'x-request-id': 'req-1',
    });
    expect(first.responseHeaders).not.toHaveProperty('set-cookie');
    expect(first.responseHeaders).not.toHaveProperty('x-internal-trace');
    // The first 2 KiB of the body (default), the partner's echo of the credential scrubbed.
    // (2048 bytes read; the echoed secret then scrubbed to the shorter [REDACTED])
    expect(first.body).toHaveLength(2048 - SECRET.length + '[REDACTED]'.length);
    expect(first.bodyBytes).toBeGreaterThan(5000);
    expect(first.bodyTruncated).toBe(true);
    expect(first.body).toContain('"echo":"Bearer [REDACTED]"');
    expect(Date.parse(first.at)).toBeLessThanOrEqual(Date.parse(last.at));
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    expect(last.body).toBe('{"points":42}');
    expect(last.bodyTruncated).toBe(false);

    // Nothing in Redis spells the secret, in any encoding.
    const raw = (await h.redis.lrange(`${jobKey(h, id)}:logs`, 0, -1)).join('\n');
    for (const spelling of [
      SECRET,
      encodeURIComponent(SECRET),
      new URLSearchParams({ v: SECRET }).toString().slice(2),
      'Zq9+/secret',
      'Zq9%2B%2Fsecret',
    ]) {
      expect(raw).not.toContain(spelling);
    }

    // Removed with the job: BullMQ deletes the job log with it.
    await (await h.queue.getJob(id))!.remove();
    expect(await h.redis.exists(`${jobKey(h, id)}:logs`)).toBe(0);
  });

  it('keeps the last K records and N bytes of body (0 keeps none), leaving the plain log lines', async () => {
    const h = await start({ INVOKE_ATTEMPT_RECORDS: '2', INVOKE_ATTEMPT_BODY_BYTES: '0' });
    const id = await addJob(h, '/always-k', 4);
    await waitForJob(h.queue, id, 'failed');
    await waitFor(async () => {
      const r = attemptsOf((await readRecords(h.redis, jobKey(h, id))).records);
      return r.length === 2 && r[1]!.n === 4;
    }, 'the last two records');
    const { records, lines } = await readRecords(h.redis, jobKey(h, id));
    expect(attemptsOf(records).map((r) => [r.n, r.outcome])).toEqual([
      [3, 'retry'],
      [4, 'failed'],
    ]);
    expect(attemptsOf(records).every((r) => r.body === null && r.bodyTruncated)).toBe(true);
    expect(lines).toHaveLength(4);
  });

  it('records an attempt that never reached the partner (connection refused) without response fields', async () => {
    const h = await start();
    // A port that was just free: nothing listens there now.
    const gone = await startUpstream();
    await gone.close();
    const data = jobData({ request: { url: `http://127.0.0.1:${gone.port}/refused` } });
    const id = idempotencyKey(data);
    await h.queue.add('invoke', data, { jobId: id, attempts: 1 });
    await waitForJob(h.queue, id, 'failed');
    const [r] = await recordsOf(h, id, 1);
    expect(r).toMatchObject({
      n: 1,
      outcome: 'failed',
      status: null,
      code: 'CONNECT_ERROR',
      url: `http://127.0.0.1:${gone.port}/refused`,
      body: null,
      bodyBytes: 0,
      responseHeaders: {},
    });
  });

  it('is shown by ops.inspect, GET /v1/invocations/{id}?attempts=true and `invoke-api inspect`', async () => {
    ensureBuilt();
    const h = await start();
    const id = await addJob(h, '/shown', 3);
    await waitForJob(h.queue, id, 'completed');
    await recordsOf(h, id, 3);

    const ops = createOps(h.cfg, h.redis);
    try {
      const j = await ops.inspect(id);
      expect(attemptsOf(j!.records).map((r) => r.status)).toEqual([503, 503, 200]);
      expect(j!.logs.some((l) => l.startsWith('record '))).toBe(false);
    } finally {
      await ops.close();
    }

    const cfg = loadConfig({ ...h.ns.env, LOG_LEVEL: 'silent' });
    const producers = createProducerApi(cfg);
    const app = await buildServer({
      cfg,
      logger: createLogger('silent', (s) => s),
      readiness: { checks: {} },
      plugins: producers.plugins,
    });
    try {
      const plain = (await app.inject({ url: `/v1/invocations/${id}` })).json();
      expect(plain).not.toHaveProperty('attemptRecords');
      const res = await app.inject({ url: `/v1/invocations/${id}?attempts=true` });
      expect(res.statusCode).toBe(200);
      const shown = res.json().attemptRecords as AttemptRecord[];
      expect(shown.map((r) => [r.n, r.status, r.code])).toEqual([
        [1, 503, 'HTTP_STATUS'],
        [2, 503, 'HTTP_STATUS'],
        [3, 200, null],
      ]);
      expect(shown[0]!.headers!.authorization).toBe('Bearer [REDACTED]');
      expect(res.body).not.toContain('sk_live');
    } finally {
      await app.close();
      await producers.close();
    }

    const env = { ...h.ns.env, INVOKE_REDIS_STARTUP_GRACE_MS: '3000' };
    const human = await runCli(['inspect', id], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /#1 \S+ {2}GET http:\/\/127\.0\.0\.1:\d+\/shown\?api_key=%5BREDACTED%5D&q=1 -> 503 HTTP_STATUS in \d+ ms \(retry\)/,
    );
    expect(human.stdout).toContain('authorization: Bearer [REDACTED]');
    expect(human.stdout).toMatch(/#3 .* -> 200 in \d+ ms \(completed\)/);
    expect(human.stdout).toContain('body (13 bytes): {"points":42}');
    const asJson = await runCli(['inspect', id, '--json'], env);
    expect(attemptsOf(asJson.json().records).map((r) => r.n)).toEqual([1, 2, 3]);
    expect(human.stdout + asJson.stdout).not.toContain('sk_live');
  });
});
