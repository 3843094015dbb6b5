/** Contract v1.1 section 6.3 end to end: a real loopback partner, a real worker and Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';

let h: Harness;
let up: Upstream;
const SECRET = 'sk_live_EXPECT_secret_42';
const routes = new Map<string, (n: number, res: import('node:http').ServerResponse) => void>();
const route = (path: string, fn: (n: number, res: import('node:http').ServerResponse) => void) => {
  let n = 0;
  routes.set(path, (_n, res) => fn(++n, res));
};

beforeAll(async () => {
  up = await startUpstream((r, res) =>
    (routes.get(r.url.split('?')[0]!) ?? ((_n, s) => json(s, 404, {})))(0, res),
  );
  h = await startHarness({ INVOKE_SECRET_TOKEN: SECRET });
});
afterAll(async () => {
  await h.close();
  await up.close();
});

const add = (data: object) =>
  h.queue.add('invoke', data, { attempts: 3, backoff: { type: 'fixed', delay: 20 } });
const callsTo = (path: string) => up.requests.filter((r) => r.url.startsWith(path)).length;
const eventsFor = async (runId: string) => (await h.events()).filter((e) => e.runId === runId);
const OK_TRUE = { success: 'response.body.ok == true' };

describe('expect.success', () => {
  it('a 200 {"ok": false} fails at once as UNEXPECTED_RESPONSE, the body saved, no retry burnt', async () => {
    route('/okfalse', (_n, res) => json(res, 200, { ok: false, reason: 'no such member' }));
    const data = jobData({ request: { url: `${up.url}/okfalse` }, expect: OK_TRUE });
    const job = await add(data);
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.attemptsMade).toBe(1);
    expect(callsTo('/okfalse')).toBe(1);
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      ok: false,
      status: 200,
      body: { ok: false, reason: 'no such member' },
      error: {
        code: 'UNEXPECTED_RESPONSE',
        retryable: false,
        message: expect.stringContaining('expect.success does not hold'),
      },
    });
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'UNEXPECTED_RESPONSE', status: '200' },
    ]);
  });

  it('a 200 {"ok": true} succeeds, and save.pick applies to what the rule accepted', async () => {
    route('/oktrue', (_n, res) => json(res, 200, { ok: true, points: 12 }));
    const data = jobData({
      request: { url: `${up.url}/oktrue` },
      expect: OK_TRUE,
      save: { variable: 'lp', pick: { points: 'body.points' } },
    });
    await waitForJob(h.queue, (await add(data)).id!, 'completed');
    expect((await h.context(data.runId)).lp).toMatchObject({
      ok: true,
      status: 200,
      body: { points: 12 },
      error: null,
    });
  });

  it('may accept a non-2xx as a success (a 404 meaning "not a member")', async () => {
    route('/notfound', (_n, res) => json(res, 404, { member: null }));
    const data = jobData({
      request: { url: `${up.url}/notfound` },
      expect: { success: 'response.status == 200 or response.status == 404' },
    });
    await waitForJob(h.queue, (await add(data)).id!, 'completed');
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      ok: true,
      status: 404,
      body: { member: null },
    });
  });

  it('cannot read a secret: a rule comparing one never holds', async () => {
    route('/secretrule', (_n, res) => json(res, 200, { ok: true }));
    const data = jobData({
      request: { url: `${up.url}/secretrule` },
      expect: { success: `secrets.TOKEN == '${SECRET}'` },
    });
    await waitForJob(h.queue, (await add(data)).id!, 'failed');
    expect((await h.context(data.runId)).loyalty.error.code).toBe('UNEXPECTED_RESPONSE');
  });

  it('a rule over its budget is a TEMPLATE_ERROR naming expect.success, not retried', async () => {
    route('/budget', (_n, res) => json(res, 200, { ok: true }));
    const data = jobData({
      request: { url: `${up.url}/budget` },
      expect: { success: '(1..100000000) contains 5' },
    });
    const failed = await waitForJob(h.queue, (await add(data)).id!, 'failed');
    expect(failed.attemptsMade).toBe(1);
    expect((await h.context(data.runId)).loyalty.error).toMatchObject({
      code: 'TEMPLATE_ERROR',
      message: 'expect.success: memory alloc limit exceeded',
    });
  });

  it('a syntax error is INVALID_JOB naming expect.success, before any call', async () => {
    route('/syntax', (_n, res) => json(res, 200, {}));
    const data = jobData({
      request: { url: `${up.url}/syntax` },
      expect: { success: 'response.status == 200 %}{% for i in (1..9) %}' },
    });
    await waitForJob(h.queue, (await add(data)).id!, 'failed');
    expect(callsTo('/syntax')).toBe(0);
    expect((await h.context(data.runId)).loyalty.error).toMatchObject({
      code: 'INVALID_JOB',
      message: expect.stringMatching(/^expect\.success: not a Liquid condition/),
    });
  });
});

describe('expect.retry', () => {
  it('makes an UNEXPECTED_RESPONSE transient: retried with the backoff until the rule holds', async () => {
    route('/busy', (n, res) => json(res, 200, n < 3 ? { ok: false, error: 'busy' } : { ok: true }));
    const data = jobData({
      request: { url: `${up.url}/busy` },
      expect: { ...OK_TRUE, retry: "response.body.error == 'busy'" },
    });
    const done = await waitForJob(h.queue, (await add(data)).id!, 'completed');
    expect(done.attemptsMade).toBe(3);
    expect((await h.context(data.runId)).loyalty).toMatchObject({ ok: true, attempts: 3 });
  });

  it('makes a chosen non-2xx transient (404 while the partner catches up)', async () => {
    route('/lag', (n, res) => (n < 2 ? json(res, 404, {}) : json(res, 200, { ok: true })));
    const data = jobData({
      request: { url: `${up.url}/lag` },
      expect: { retry: 'response.status == 404' },
    });
    const done = await waitForJob(h.queue, (await add(data)).id!, 'completed');
    expect(done.attemptsMade).toBe(2);
  });

  it('when given and false, a 503 is not retried', async () => {
    route('/no503', (_n, res) => json(res, 503, {}));
    const data = jobData({
      request: { url: `${up.url}/no503` },
      expect: { retry: 'response.status == 429' },
    });
    const failed = await waitForJob(h.queue, (await add(data)).id!, 'failed');
    expect(failed.attemptsMade).toBe(1);
    expect((await h.context(data.runId)).loyalty.error).toMatchObject({
      code: 'HTTP_STATUS',
      retryable: false,
    });
  });
});

describe('with onFailure: hold', () => {
  it('holds an UNEXPECTED_RESPONSE; an operator retry runs the rule again and emits on success', async () => {
    let healthy = false;
    route('/held', (_n, res) => json(res, 200, { ok: healthy }));
    const data = jobData({
      request: { url: `${up.url}/held` },
      expect: OK_TRUE,
      onFailure: 'hold',
    });
    const failed = await waitForJob(h.queue, (await add(data)).id!, 'failed');
    expect(failed.failedReason).toMatch(/UNEXPECTED_RESPONSE/);
    expect(await eventsFor(data.runId)).toEqual([]);
    healthy = true;
    await failed.retry('failed');
    await waitForJob(h.queue, failed.id!, 'completed');
    expect(await eventsFor(data.runId)).toMatchObject([
      { type: 'invoke.completed', status: '200' },
    ]);
  });
});
