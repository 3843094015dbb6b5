/**
 * Waiting for the partner (contract v1.1 section 6.5) end to end: a real worker, the real
 * callback route on loopback, a loopback partner, the real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobData } from '../helpers/harness.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { dumpNamespace } from '../helpers/redis.js';
import { callbackPath, startCallbackSetup, type CallbackSetup } from './setup.js';
import { enqueueJob } from './enqueue.js';

let s: CallbackSetup;
let up: Upstream;

beforeAll(async () => {
  up = await startUpstream();
  s = await startCallbackSetup();
});
afterAll(async () => {
  await s.close();
  await up.close();
});

/** A job whose partner gets {{ callback.url }} in its body. */
function waitingJob(over: Record<string, unknown> = {}) {
  return jobData({
    request: {
      method: 'POST',
      url: `${up.url}/orders`,
      body: { callbackUrl: '{{ callback.url }}', token: '{{ callback.token }}' },
    },
    wait: { callback: true, timeoutMs: 60_000 },
    ...over,
  });
}

async function enqueue(data: ReturnType<typeof jobData>) {
  const { enqueueJob } = await import('./enqueue.js');
  return enqueueJob(s.h.queue, data);
}

const eventsFor = async (runId: string) => (await s.events()).filter((e) => e.runId === runId);

describe('a step that waits for its callback', () => {
  it('waits after the call (no event, BullMQ job completed), then completes once on the callback', async () => {
    let path = '';
    up.handle((req, res) => {
      path = callbackPath(req.body);
      json(res, 202, { accepted: true });
    });
    const data = waitingJob({ save: { variable: 'kyc', pick: { verdict: 'body.verdict' } } });
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    expect(path).toMatch(/^\/v1\/callbacks\/icb_/);
    expect(await eventsFor(data.runId)).toEqual([]);
    expect(await s.h.context(data.runId)).toEqual({});
    expect((await s.h.app.callbacks.store.counts()).waiting).toBeGreaterThanOrEqual(1);

    const first = await s.post(path, { verdict: 'approved', extra: 1 });
    expect(first.status).toBe(202);
    const env = (await s.h.context(data.runId)).kyc;
    expect(env).toMatchObject({
      ok: true,
      status: 202,
      body: { verdict: 'approved' },
      error: null,
      callback: { at: expect.any(String) },
    });
    const events = await eventsFor(data.runId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'invoke.completed',
      jobId: id,
      status: '202',
      errorCode: '',
    });

    // A repeat: 200, nothing saved again, no second event.
    const again = await s.post(path, { verdict: 'rejected' });
    expect(again.status).toBe(200);
    expect((await s.h.context(data.runId)).kyc.body).toEqual({ verdict: 'approved' });
    expect(await eventsFor(data.runId)).toHaveLength(1);
  });

  it('100 concurrent duplicate callbacks: one 202, 99 200s, exactly one event', async () => {
    let path = '';
    up.handle((req, res) => {
      path = callbackPath(req.body);
      json(res, 200, {});
    });
    const data = waitingJob();
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => s.post(path, { n: i })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((x) => x === 202)).toHaveLength(1);
    expect(statuses.filter((x) => x === 200)).toHaveLength(99);
    expect(await eventsFor(data.runId)).toHaveLength(1);
  });

  it("an early callback (before the call's 200 reaches the worker) is kept and applied", async () => {
    let early: { status: number } | undefined;
    up.handle(async (req, res) => {
      // The partner calls back first and answers the call only afterwards.
      early = await s.post(callbackPath(req.body), { done: 'early' });
      json(res, 200, { queued: true });
    });
    const data = waitingJob();
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    expect(early?.status).toBe(202);
    const env = await waitFor(
      async () => (await s.h.context(data.runId)).loyalty,
      'the early callback applied',
      5000,
    );
    expect(env).toMatchObject({
      ok: true,
      status: 200,
      body: { done: 'early' },
      callback: { at: expect.any(String) },
    });
    expect(await eventsFor(data.runId)).toHaveLength(1);
  });

  it('forged, altered and foreign tokens: 404 and nothing completes; the token is nowhere in Redis', async () => {
    let path = '';
    let token = '';
    up.handle((req, res) => {
      path = callbackPath(req.body);
      token = JSON.parse(req.body).token;
      json(res, 200, {});
    });
    const data = waitingJob();
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    const flip = (t: string, i: number) =>
      t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    const forged = [
      '/v1/callbacks/icb_' + 'A'.repeat(80),
      '/v1/callbacks/' + flip(token, token.length - 3),
      '/v1/callbacks/' + flip(token, 10),
      '/v1/callbacks/' + token.slice(0, -4),
      '/v1/callbacks/nonsense',
      '/v1/callbacks/' + 'icb_' + 'x'.repeat(5000),
    ];
    for (const p of forged) {
      const r = await s.post(p, { verdict: 'forged' });
      expect(r.status, p.slice(0, 40)).toBe(404);
      expect(r.text).not.toContain(id);
    }
    expect(await eventsFor(data.runId)).toEqual([]);
    expect(await dumpNamespace(s.h.redis, s.h.ns)).not.toContain(token.slice(4));
    expect((await s.post(path, { ok: 1 })).status).toBe(202);
  });

  it('the route needs no Bearer token, has its own body limit and takes JSON only', async () => {
    let path = '';
    up.handle((req, res) => {
      path = callbackPath(req.body);
      json(res, 200, {});
    });
    const data = waitingJob();
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    const big = await s.post(path, { blob: 'x'.repeat(10 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect((await s.post(path, 'plain words', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await s.post(path, '{"broken":', { 'content-type': 'application/json' })).status).toBe(
      400,
    );
    expect(await eventsFor(data.runId)).toEqual([]);
    // Other routes still need the token.
    expect((await s.post('/v1/ops/retry', {})).status).toBe(401);
    expect((await s.post(path, { fine: true })).status).toBe(202);
  });
});

describe('no callback in time', () => {
  it('CALLBACK_TIMEOUT (invoke.failed) within seconds of the deadline; a late callback gets 410', async () => {
    let path = '';
    up.handle((req, res) => {
      path = callbackPath(req.body);
      json(res, 200, {});
    });
    const data = waitingJob({ wait: { callback: true, timeoutMs: 1000 } });
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    const armedAt = Date.now();
    const [event] = await waitFor(
      async () => {
        const e = await eventsFor(data.runId);
        return e.length ? e : undefined;
      },
      'the timeout event',
      10_000,
    );
    expect(Date.now() - armedAt).toBeLessThan(1000 + 3000);
    expect(event).toMatchObject({
      type: 'invoke.failed',
      errorCode: 'CALLBACK_TIMEOUT',
      jobId: id,
    });
    expect((await s.h.context(data.runId)).loyalty).toMatchObject({
      ok: false,
      error: { code: 'CALLBACK_TIMEOUT', retryable: false },
    });
    const late = await s.post(path, { too: 'late' });
    expect(late.status).toBe(410);
    expect(await eventsFor(data.runId)).toHaveLength(1);
  });

  it('with onFailure hold: nothing emitted, the step is held for an operator', async () => {
    up.handle((_req, res) => json(res, 200, {}));
    const data = waitingJob({ wait: { callback: true, timeoutMs: 1000 }, onFailure: 'hold' });
    const id = await enqueue(data);
    await waitForJob(s.h.queue, id, 'completed');
    await waitFor(
      async () => (await s.h.app.callbacks.store.read(id))?.state === 'h',
      'the step held',
      10_000,
    );
    expect(await eventsFor(data.runId)).toEqual([]);
    expect((await s.h.app.callbacks.store.counts()).held).toBeGreaterThanOrEqual(1);
    expect(await s.h.app.callbacks.discardStep(id)).toEqual({ done: true });
    const events = await eventsFor(data.runId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'invoke.failed', errorCode: 'DISCARDED' });
  });
});

describe('the rate limit', () => {
  it('429 past INVOKE_CALLBACK_RATE_PER_MINUTE from one address, before any token is looked at', async () => {
    const limited = await startCallbackSetup({ INVOKE_CALLBACK_RATE_PER_MINUTE: '5' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++)
        statuses.push((await limited.post(`/v1/callbacks/icb_${'A'.repeat(60)}${i}`, {})).status);
      expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429]);
      const last = await limited.post('/v1/callbacks/whatever', {});
      expect(last.body).toEqual({ error: 'RATE_LIMITED', message: expect.any(String) });
    } finally {
      await limited.close();
    }
  });
});

describe("the client's complete(token, body)", () => {
  it('completes exactly once, like the route: accepted, then repeat; forged is unknown', async () => {
    const { createInvokeClient } = await import('../../src/client/create-invoke-client.js');
    const { REDIS_URL } = await import('../helpers/redis.js');
    const { CALLBACK_KEY } = await import('./setup.js');
    const ns = s.h.ns;
    const client = createInvokeClient({
      redisUrl: REDIS_URL,
      prefix: ns.prefix,
      ctxPrefix: ns.ctxPrefix,
      eventsStream: ns.stream,
      callbackKey: CALLBACK_KEY,
    });
    try {
      let token = '';
      up.handle((req, res) => {
        token = JSON.parse(req.body).token;
        json(res, 200, {});
      });
      const data = waitingJob();
      const id = await enqueue(data);
      await waitForJob(s.h.queue, id, 'completed');
      expect(await client.complete(`${token.slice(0, -2)}AA`, { x: 0 })).toBe('unknown');
      const results = await Promise.all([1, 2, 3].map((n) => client.complete(token, { n })));
      expect(results.sort()).toEqual(['accepted', 'repeat', 'repeat']);
      expect(await eventsFor(data.runId)).toHaveLength(1);
      expect((await s.h.context(data.runId)).loyalty).toMatchObject({
        ok: true,
        callback: { at: expect.any(String) },
      });
      const keyless = createInvokeClient({ redisUrl: REDIS_URL, prefix: ns.prefix });
      await expect(keyless.complete(token, {})).rejects.toThrow(/callbackKey/);
      await keyless.close();
    } finally {
      await client.close();
    }
  });
});

describe('the token stays out of Redis and logs', () => {
  it('a token rendered into the URL path and query is redacted from job logs, errors and log lines', async () => {
    let token = '';
    up.handle((req, res) => {
      token = new URL(req.url, up.url).searchParams.get('t') ?? '';
      json(res, 503, { busy: true });
    });
    const logged = await startCallbackSetup({ LOG_LEVEL: 'debug' });
    try {
      const data = waitingJob({
        request: {
          method: 'POST',
          url: `${up.url}/orders/{{ callback.token }}`,
          query: { t: '{{ callback.token | upcase }}', u: '{{ callback.token }}' },
          body: { x: 1 },
        },
      });
      const id = await enqueueJob(logged.h.queue, data);
      await waitForJob(logged.h.queue, id, 'failed');
      expect(token).toMatch(/^ICB_/);
      const raw = token.slice(4);
      const dump = await dumpNamespace(logged.h.redis, logged.h.ns);
      const logs = logged.h.logs.join('\n');
      expect(logs).toContain('attempt');
      for (const spelling of [raw, raw.toLowerCase(), encodeURIComponent(raw)]) {
        expect(dump).not.toContain(spelling.slice(0, 40));
        expect(logs).not.toContain(spelling.slice(0, 40));
      }
      expect(dump).toContain('[REDACTED]');
    } finally {
      await logged.close();
    }
  });
});

describe('a dry run of a step with wait', () => {
  it('renders a placeholder callback that completes nothing', async () => {
    const { createDryRun } = await import('../../src/dry-run/dry-run.js');
    const dry = createDryRun(s.h.cfg);
    try {
      let body = '';
      up.handle((req, res) => {
        body = req.body;
        json(res, 202, {});
      });
      const { envelope } = await dry.run(waitingJob());
      expect(envelope).toMatchObject({ ok: true, status: 202 });
      expect(callbackPath(body)).toBe('/v1/callbacks/icb_dry-run');
      expect((await s.post(callbackPath(body), {})).status).toBe(404);
    } finally {
      await dry.close();
    }
  });
});
