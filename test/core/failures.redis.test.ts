/** Issue 1: classification, retries, Retry-After, deadlines, hold, and that failures leak nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob, waitFor } from '../helpers/wait.js';
import { dumpNamespace } from '../helpers/redis.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';

let h: Harness;
let up: Upstream;
const SECRET = 'sk_live_TOPSECRET_abc123';
const fast = { attempts: 3, backoff: { type: 'fixed', delay: 30 } };

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({
    INVOKE_SECRET_LOYALTY_TOKEN: SECRET,
    INVOKE_MAX_RESPONSE_BYTES: '1000',
  });
});
afterAll(async () => {
  await h.close();
  await up.close();
});

/** Each test gets its own path on the shared upstream, so scripted replies don't cross. */
function route(
  path: string,
  reply: (
    n: number,
    r: import('../helpers/upstream.js').Recorded,
    res: import('node:http').ServerResponse,
  ) => unknown,
) {
  const seen: import('../helpers/upstream.js').Recorded[] = [];
  const previous = handlers.get(path);
  if (previous) throw new Error(`route ${path} used twice`);
  handlers.set(path, (r, res) => {
    seen.push(r);
    return reply(seen.length, r, res);
  });
  return seen;
}
const handlers = new Map<
  string,
  (r: import('../helpers/upstream.js').Recorded, res: import('node:http').ServerResponse) => unknown
>();
beforeAll(() => {
  up.handle((r, res) =>
    (handlers.get(r.url.split('?')[0]!) ?? ((_r, s) => json(s, 599, {})))(r, res),
  );
});

const eventsFor = async (runId: string) => (await h.events()).filter((e) => e.runId === runId);

describe('transient failures are retried with the job backoff', () => {
  it('503 twice then 200: attempts 3, one completed event', async () => {
    const seen = route('/flaky', (n, _r, res) =>
      n < 3 ? json(res, 503, { down: true }) : json(res, 200, { up: true }),
    );
    const data = jobData({ request: { url: `${up.url}/flaky` } });
    const job = await h.queue.add('invoke', data, fast);
    await waitForJob(h.queue, job.id!, 'completed');
    expect(seen).toHaveLength(3);
    const events = await eventsFor(data.runId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'invoke.completed', attempts: '3', status: '200' });
    expect((await h.context(data.runId)).loyalty).toMatchObject({ ok: true, attempts: 3 });
  });

  it('429 with Retry-After: 2 waits about 2 s before the next attempt', async () => {
    const seen = route('/limited', (n, _r, res) =>
      n === 1 ? json(res, 429, {}, { 'retry-after': '2' }) : json(res, 200, {}),
    );
    const data = jobData({ request: { url: `${up.url}/limited` } });
    const job = await h.queue.add('invoke', data, {
      attempts: 3,
      backoff: { type: 'exponential', delay: 10 },
    });
    await waitForJob(h.queue, job.id!, 'completed');
    const gap = seen[1]!.at - seen[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(1900);
    expect(gap).toBeLessThan(4000);
  });

  it('503 with Retry-After: 2 on an "invoke" backoff job: the strategy takes the delay from the error', async () => {
    const seen = route('/unavailable', (n, _r, res) =>
      n === 1 ? json(res, 503, {}, { 'retry-after': '2' }) : json(res, 200, {}),
    );
    const data = jobData({ request: { url: `${up.url}/unavailable` } });
    const job = await h.queue.add('invoke', data, {
      attempts: 3,
      backoff: { type: 'invoke', delay: 10 },
    });
    await waitForJob(h.queue, job.id!, 'completed');
    const gap = seen[1]!.at - seen[0]!.at;
    // Lower bound only matters (the "invoke" delay here is under 10 ms); the upper bound leaves
    // room for a loaded machine.
    expect(gap).toBeGreaterThanOrEqual(1900);
    expect(gap).toBeLessThan(4000);
  });

  it('a timeout is retried, then fails with TIMEOUT and a failure envelope + invoke.failed', async () => {
    const seen = route('/slow', () => undefined); // never answers
    const data = jobData({ request: { url: `${up.url}/slow`, timeoutMs: 150 } });
    const job = await h.queue.add('invoke', data, {
      attempts: 2,
      backoff: { type: 'fixed', delay: 20 },
    });
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(seen).toHaveLength(2);
    expect(failed.failedReason).toMatch(/^TIMEOUT: /);
    const env = (await h.context(data.runId)).loyalty;
    expect(env).toMatchObject({
      ok: false,
      status: null,
      attempts: 2,
      error: { code: 'TIMEOUT', retryable: true },
    });
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'TIMEOUT', status: '' },
    ]);
  });

  it('sends the idempotency key in the idempotency header, identical on every attempt', async () => {
    const seen = route('/idem', (n, _r, res) => (n < 3 ? json(res, 500, {}) : json(res, 200, {})));
    const data = jobData({
      request: {
        method: 'POST',
        url: `${up.url}/idem`,
        body: { a: 1 },
        idempotencyHeader: 'Idempotency-Key',
      },
    });
    const job = await h.queue.add('invoke', data, fast);
    await waitForJob(h.queue, job.id!, 'completed');
    expect(seen.map((r) => r.headers['idempotency-key'])).toEqual(
      Array(3).fill(idempotencyKey(data)),
    );
  });
});

describe('permanent failures fail at once, never burning attempts', () => {
  it('404 fails after one call with HTTP_STATUS and keeps the error body', async () => {
    const seen = route('/missing', (_n, _r, res) => json(res, 404, { error: 'no such customer' }));
    const data = jobData({ request: { url: `${up.url}/missing` } });
    const job = await h.queue.add('invoke', data, fast);
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(seen).toHaveLength(1);
    expect(failed.attemptsMade).toBe(1);
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      ok: false,
      status: 404,
      body: { error: 'no such customer' },
      error: { code: 'HTTP_STATUS', retryable: false },
    });
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'HTTP_STATUS', status: '404' },
    ]);
  });

  it('a 302 is the result: not followed, not retried', async () => {
    const seen = route(
      '/moved',
      (_n, _r, res) => (res.writeHead(302, { location: `${up.url}/elsewhere` }), res.end()),
    );
    const data = jobData({ request: { url: `${up.url}/moved` } });
    const job = await h.queue.add('invoke', data, fast);
    await waitForJob(h.queue, job.id!, 'failed');
    expect(seen).toHaveLength(1);
    expect(up.requests.some((r) => r.url === '/elsewhere')).toBe(false);
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      status: 302,
      headers: { location: `${up.url}/elsewhere` },
      error: { code: 'HTTP_STATUS' },
    });
  });

  it('an oversized body is RESPONSE_TOO_LARGE without retry', async () => {
    const seen = route('/big', (_n, _r, res) => json(res, 200, { pad: 'x'.repeat(5000) }));
    const data = jobData({ request: { url: `${up.url}/big` } });
    const job = await h.queue.add('invoke', data, fast);
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(seen).toHaveLength(1);
    expect(failed.failedReason).toMatch(/^RESPONSE_TOO_LARGE: /);
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      truncated: true,
      body: null,
      error: { code: 'RESPONSE_TOO_LARGE' },
    });
  });

  it('an invalid job (bad method) is INVALID_JOB naming the field, and nothing is called', async () => {
    const before = up.requests.length;
    const data = jobData({ request: { method: 'BREW', url: `${up.url}/never` } });
    const job = await h.queue.add('invoke', data, fast);
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.failedReason).toMatch(/^INVALID_JOB: request\.method: /);
    expect(failed.attemptsMade).toBe(1);
    expect(up.requests.length).toBe(before);
    // The ids are intact, so the journey still moves on down its failure branch.
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'INVALID_JOB' },
    ]);
  });

  it('an undefined variable is TEMPLATE_ERROR, and nothing is called', async () => {
    const before = up.requests.length;
    const data = jobData({ request: { url: `${up.url}/t/{{ customer.nope }}` } });
    const job = await h.queue.add('invoke', data, fast);
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.failedReason).toMatch(
      /^TEMPLATE_ERROR: request\.url: undefined variable: customer\.nope/,
    );
    expect(failed.attemptsMade).toBe(1);
    expect(up.requests.length).toBe(before);
  });

  it('an unknown secret is TEMPLATE_ERROR naming the secret', async () => {
    const data = jobData({
      request: { url: `${up.url}/s`, headers: { Authorization: 'Bearer {{ secrets.NOPE }}' } },
    });
    const failed = await waitForJob(
      h.queue,
      (await h.queue.add('invoke', data, fast)).id!,
      'failed',
    );
    expect(failed.failedReason).toBe(
      'TEMPLATE_ERROR: request.headers.Authorization: unknown secret NOPE (set INVOKE_SECRET_NOPE)',
    );
  });

  it('a job whose deadline has passed is EXPIRED without a call', async () => {
    const before = up.requests.length;
    const data = jobData({ request: { url: `${up.url}/late` }, deadlineMs: 1 });
    const job = await h.queue.add('invoke', data, { ...fast, delay: 50 });
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.failedReason).toMatch(/^EXPIRED: /);
    expect(up.requests.length).toBe(before);
    expect(await eventsFor(data.runId)).toMatchObject([{ errorCode: 'EXPIRED' }]);
  });
});

describe('secrets never leave the worker', () => {
  it('a secret header reaches upstream but no Redis key and no log line holds it', async () => {
    const seen = route('/auth', (_n, _r, res) => json(res, 200, { ok: 1 }));
    const data = jobData({
      request: {
        url: `${up.url}/auth`,
        headers: { Authorization: 'Bearer {{ secrets.LOYALTY_TOKEN }}' },
      },
    });
    await waitForJob(h.queue, (await h.queue.add('invoke', data, fast)).id!, 'completed');
    expect(seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(await dumpNamespace(h.redis, h.ns)).not.toContain(SECRET);
    expect(h.logs.join('')).not.toContain(SECRET);
  });

  it('a failing URL with the secret in its query leaves no trace in failedReason, stacktrace, logs or Redis', async () => {
    route(`/leaky/${SECRET}`, (_n, _r, res) => res.destroy()); // connection reset: a got error is thrown
    const data = jobData({
      request: {
        url: `${up.url}/leaky/{{ secrets.LOYALTY_TOKEN }}`,
        query: { key: '{{ secrets.LOYALTY_TOKEN }}' },
      },
    });
    const job = await h.queue.add('invoke', data, {
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
    });
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.failedReason).toMatch(/^CONNECT_ERROR: /);
    for (const text of [
      failed.failedReason,
      JSON.stringify(failed.stacktrace),
      h.logs.join(''),
      await dumpNamespace(h.redis, h.ns),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(encodeURIComponent(SECRET));
    }
  });
});

describe('onFailure: hold', () => {
  it('emits nothing on final failure; an operator retry runs it again and emits on success', async () => {
    let healthy = false;
    route('/held', (_n, _r, res) =>
      healthy ? json(res, 200, { back: true }) : json(res, 500, {}),
    );
    const data = jobData({ request: { url: `${up.url}/held` }, onFailure: 'hold' });
    const job = await h.queue.add('invoke', data, {
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
    });
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(await eventsFor(data.runId)).toEqual([]);
    expect(await h.context(data.runId)).toEqual({});
    healthy = true;
    await failed.retry('failed');
    await waitForJob(h.queue, job.id!, 'completed');
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.completed', status: '200' },
    ]);
  });
});

describe('ordering', () => {
  it('every completed event finds its context already written', async () => {
    route('/order', (_n, _r, res) => json(res, 200, { v: 1 }));
    const runs = Array.from({ length: 30 }, () => jobData({ request: { url: `${up.url}/order` } }));
    const reader = h.redis.duplicate();
    // From the stream's start ('$' would race the reader's connection and miss early events); other runs are skipped.
    let lastId = '0';
    const checked: boolean[] = [];
    const reading = (async () => {
      while (checked.length < runs.length) {
        const res = (await reader.xread(
          'COUNT',
          100,
          'BLOCK',
          2000,
          'STREAMS',
          h.cfg.INVOKE_EVENTS_STREAM,
          lastId,
        )) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const runId = fields[fields.indexOf('runId') + 1]!;
            if (!runs.some((r) => r.runId === runId)) continue;
            checked.push(
              (await h.redis.hexists(`${h.cfg.INVOKE_CTX_PREFIX}:{${runId}}`, 'loyalty')) === 1,
            );
          }
        }
      }
    })();
    await h.queue.addBulk(runs.map((data) => ({ name: 'invoke', data })));
    await waitFor(async () => checked.length >= runs.length, 'all events read');
    await reading;
    reader.disconnect();
    expect(checked.every(Boolean)).toBe(true);
  });
});
