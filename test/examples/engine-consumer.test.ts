/** examples/engine-consumer.ts against a real worker run: read, dedupe, read the saved variable, take over. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { redisClient } from '../helpers/redis.js';
import {
  createEngineConsumer,
  type EngineConsumerOptions,
} from '../../examples/engine-consumer.js';
import type { ContinuationEvent, Envelope } from '../../src/index.js';

let h: Harness;
let up: Upstream;
const conns: Redis[] = [];

beforeAll(async () => {
  up = await startUpstream((r, res) =>
    r.url.startsWith('/missing')
      ? json(res, 404, { error: 'no such member' })
      : json(res, 200, { points: 42 }),
  );
  h = await startHarness();
});
afterAll(async () => {
  await Promise.all(conns.map((c) => c.quit()));
  await h.close();
  await up.close();
});

function consumer(name: string, over: Partial<EngineConsumerOptions> = {}) {
  const redis = redisClient();
  conns.push(redis);
  const seen: [ContinuationEvent, Envelope | undefined][] = [];
  const c = createEngineConsumer({
    redis,
    consumer: name,
    group: 'engine',
    stream: h.cfg.INVOKE_EVENTS_STREAM,
    ctxPrefix: h.cfg.INVOKE_CTX_PREFIX,
    seenPrefix: `test:${h.ns.id}:seen`,
    startId: '0',
    blockMs: 50,
    onEvent: async (e, saved) => void seen.push([e, saved]),
    ...over,
  });
  return { c, seen };
}

async function runStep(data: ReturnType<typeof jobData>, state: 'completed' | 'failed') {
  const job = await h.queue.add('invoke', data, {
    jobId: `${data.runId}.${data.stepId}`,
    attempts: 1,
  });
  await waitForJob(h.queue, job.id!, state);
}

/** Polls until `done` holds; each poll blocks at most blockMs. */
async function pollUntil(c: ReturnType<typeof consumer>['c'], done: () => boolean) {
  await waitFor(async () => (await c.poll(), done()), 'the consumer to catch up', 10_000);
}

describe('engine consumer example', () => {
  it('hands each event to the engine with the saved variable, acks it, and drops a duplicate eventId', async () => {
    const { c, seen } = consumer('engine-1');
    await c.ensureGroup();
    const ok = jobData({ request: { url: `${up.url}/loyalty/{{ customer.id }}` } });
    const bad = jobData({ request: { url: `${up.url}/missing` } });
    await runStep(ok, 'completed');
    await runStep(bad, 'failed');
    await pollUntil(c, () => seen.length === 2);
    const byRun = new Map(seen.map(([e, s]) => [e.runId, { e, s }]));
    expect(byRun.get(ok.runId)!.e).toMatchObject({
      type: 'invoke.completed',
      variable: 'loyalty',
      status: '200',
    });
    expect(byRun.get(ok.runId)!.s).toMatchObject({ ok: true, body: { points: 42 } });
    expect(byRun.get(bad.runId)!.e).toMatchObject({
      type: 'invoke.failed',
      errorCode: 'HTTP_STATUS',
      status: '404',
    });
    expect(byRun.get(bad.runId)!.s).toMatchObject({
      ok: false,
      status: 404,
      error: { code: 'HTTP_STATUS' },
    });

    // The same event appended again (what a crash between save and emit can cause).
    const [first] = await h.redis.xrange(h.cfg.INVOKE_EVENTS_STREAM, '-', '+', 'COUNT', 1);
    await h.redis.xadd(h.cfg.INVOKE_EVENTS_STREAM, '*', ...first![1]);
    let duplicates = 0;
    await waitFor(
      async () => (duplicates += (await c.poll()).duplicates) > 0,
      'the duplicate to be read',
      10_000,
    );
    expect(seen).toHaveLength(2);
    expect((await h.redis.xpending(h.cfg.INVOKE_EVENTS_STREAM, 'engine'))[0]).toBe(0);
  });

  it('takes over an entry a dead consumer read but never acknowledged, and handles it once', async () => {
    let crashes = 0;
    const dead = consumer('engine-dead', {
      onEvent: async () => {
        crashes++;
        throw new Error('engine crashed');
      },
    });
    const alive = consumer('engine-alive', { claimIdleMs: 0 });
    await dead.c.ensureGroup();
    // Drain what the first test left so only the new run matters here.
    await alive.c.poll();
    const data = jobData({ request: { url: `${up.url}/loyalty/x` } });
    await runStep(data, 'completed');
    const mine = () => alive.seen.filter(([e]) => e.runId === data.runId);
    await waitFor(
      async () => ((await dead.c.poll()).failed > 0 ? true : undefined),
      'the dead consumer to read the entry',
      10_000,
    );
    expect(crashes).toBe(1);
    expect((await h.redis.xpending(h.cfg.INVOKE_EVENTS_STREAM, 'engine'))[0]).toBe(1);
    await pollUntil(alive.c, () => mine().length === 1);
    expect(mine()[0]![1]).toMatchObject({ ok: true, body: { points: 42 } });
    expect((await h.redis.xpending(h.cfg.INVOKE_EVENTS_STREAM, 'engine'))[0]).toBe(0);
  });
});

describe('npx tsx examples/engine-consumer.ts', () => {
  it('prints each event with its saved variable and stops on SIGINT', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const env = {
      ...process.env,
      INVOKE_EVENTS_STREAM: h.cfg.INVOKE_EVENTS_STREAM,
      INVOKE_CTX_PREFIX: h.cfg.INVOKE_CTX_PREFIX,
      ENGINE_GROUP: 'cli-engine',
      ENGINE_SEEN_PREFIX: `test:${h.ns.id}:seen`,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/engine-consumer.ts'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(
        async () => out.includes('Ctrl-C to stop') || undefined,
        `the consumer to start\n${out}`,
        25_000,
      );
      const data = jobData({ request: { url: `${up.url}/loyalty/cli` } });
      await runStep(data, 'completed');
      await waitFor(
        async () =>
          out.includes(
            `invoke.completed run=${data.runId} step=fetch-loyalty loyalty={"points":42}`,
          ) || undefined,
        `the event line\n${out}`,
        10_000,
      );
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
