/**
 * Operators and waiting steps: list (and counts in status), complete, retry under a new token
 * (the old one is then 410), discard; each action safe to run twice. Through the ops API and
 * the built CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOps, type Ops } from '../../src/ops/index.js';
import { jobData } from '../helpers/harness.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { ensureBuilt as ensureCliBuilt, runCli } from '../helpers/cli.js';
import { ensureBuilt } from '../helpers/worker-process.js';
import { callbackPath, CALLBACK_KEY, startCallbackSetup, type CallbackSetup } from './setup.js';
import { enqueueJob } from './enqueue.js';

let s: CallbackSetup;
let up: Upstream;
let ops: Ops;
const paths: string[] = [];

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    paths.push(callbackPath(req.body));
    json(res, 200, {});
  });
  s = await startCallbackSetup();
  ops = createOps(s.h.cfg, s.h.redis);
});
afterAll(async () => {
  await ops.close();
  await s.close();
  await up.close();
});

async function waitingStep(over: Record<string, unknown> = {}) {
  const data = jobData({
    request: {
      method: 'POST',
      url: `${up.url}/review`,
      body: { callbackUrl: '{{ callback.url }}' },
    },
    wait: { callback: true, timeoutMs: 600_000 },
    ...over,
  });
  const id = await enqueueJob(s.h.queue, data);
  await waitForJob(s.h.queue, id, 'completed');
  return { data, id, path: paths.at(-1)! };
}
const eventsFor = async (runId: string) => (await s.events()).filter((e) => e.runId === runId);

describe('operators and waiting steps', () => {
  it('lists waiting steps with their identity and counts them in status', async () => {
    const { id, data } = await waitingStep({ journeyId: 'kyc-flow' });
    const list = await ops.waiting.list(1000);
    expect(list.steps.find((x) => x.jobId === id)).toMatchObject({
      state: 'waiting',
      journeyId: 'kyc-flow',
      runId: data.runId,
      deadline: expect.any(String),
    });
    expect((await ops.status()).callbacks?.waiting).toBe(list.waiting);
    expect(list.waiting).toBeGreaterThanOrEqual(1);
  });

  it("complete: saves the operator's body and emits once; a second run skips", async () => {
    const { id, data, path } = await waitingStep();
    expect(await ops.waiting.complete([id], { verdict: 'manual' })).toEqual({
      action: 'complete',
      done: [id],
      skipped: [],
    });
    expect((await s.h.context(data.runId)).loyalty).toMatchObject({
      ok: true,
      body: { verdict: 'manual' },
      callback: { at: expect.any(String) },
    });
    expect(await ops.waiting.complete([id], { verdict: 'again' })).toEqual({
      action: 'complete',
      done: [],
      skipped: [{ id, reason: 'completed' }],
    });
    expect((await s.post(path, { late: true })).status).toBe(200);
    expect(await eventsFor(data.runId)).toHaveLength(1);
  });

  it('retry: the call is made again under a new token; the old token is 410, the new one completes', async () => {
    const { id, data, path: oldPath } = await waitingStep();
    const calls = up.requests.length;
    expect(await ops.waiting.retry([id])).toEqual({ action: 'retry', done: [id], skipped: [] });
    await waitFor(
      async () =>
        up.requests.length > calls && (await s.h.app.callbacks.store.read(id))?.state === 'w',
      'the call made again and waiting',
    );
    const newPath = paths.at(-1)!;
    expect(newPath).not.toBe(oldPath);
    expect((await s.post(oldPath, { stale: true })).status).toBe(410);
    expect((await s.post(newPath, { fresh: true })).status).toBe(202);
    const events = await eventsFor(data.runId);
    expect(events).toHaveLength(1);
    expect((await s.h.context(data.runId)).loyalty.body).toEqual({ fresh: true });
    expect((await ops.waiting.retry([id])).skipped).toEqual([{ id, reason: 'completed' }]);
  });

  it('discard: DISCARDED (invoke.failed) once; the token is then 410', async () => {
    const { id, data, path } = await waitingStep();
    expect((await ops.waiting.discard([id])).done).toEqual([id]);
    expect((await ops.waiting.discard([id])).skipped).toEqual([{ id, reason: 'discarded' }]);
    const events = await eventsFor(data.runId);
    expect(events).toEqual([
      expect.objectContaining({ type: 'invoke.failed', errorCode: 'DISCARDED' }),
    ]);
    expect((await s.post(path, {})).status).toBe(410);
  });

  it('the dashboard page /ui/waiting lists steps, escaped, behind the token', async () => {
    const { buildServer } = await import('../../src/api/server.js');
    const { waitingPageRoutes } = await import('../../src/api/routes/waiting-page.js');
    const { createLogger } = await import('../../src/logger.js');
    const { loadConfig } = await import('../../src/config.js');
    const { API_TOKEN } = await import('./setup.js');
    const { id } = await waitingStep({ runId: `<script>alert(1)</script>-${Date.now()}` });
    const app = await buildServer({
      cfg: loadConfig({ INVOKE_API_TOKEN: API_TOKEN }),
      logger: createLogger('silent', (x) => x),
      readiness: { checks: {} },
      plugins: [waitingPageRoutes(ops.waiting)],
    });
    try {
      const anon = await app.inject({ method: 'GET', url: '/ui/waiting' });
      expect(anon.statusCode).toBe(401);
      expect(anon.headers['www-authenticate']).toMatch(/^Basic/);
      const page = await app.inject({
        method: 'GET',
        url: '/ui/waiting',
        headers: { authorization: `Basic ${Buffer.from(`op:${API_TOKEN}`).toString('base64')}` },
      });
      expect(page.statusCode).toBe(200);
      expect(page.body).toMatch(/\d+ waiting, \d+ held/);
      expect(page.body).toContain(id.slice(0, 12));
      expect(page.body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
      expect(page.body).not.toContain('<script>');
    } finally {
      await app.close();
    }
  });

  it('the CLI: waiting --json, waiting complete --body, status', async () => {
    await ensureBuilt();
    ensureCliBuilt();
    const { id, data } = await waitingStep();
    const env = { ...s.h.ns.env, INVOKE_CALLBACK_KEY: CALLBACK_KEY };
    const listed = await runCli(['waiting', '--json', '--limit', '1000'], env);
    expect(listed.code).toBe(0);
    expect(listed.json().steps.map((x: { jobId: string }) => x.jobId)).toContain(id);
    const bad = await runCli(['waiting', 'complete', id, '--body', '{nope'], env);
    expect(bad.code).toBe(2);
    const done = await runCli(['waiting', 'complete', id, '--body', '{"verdict":"cli"}'], env);
    expect(done.code).toBe(0);
    expect((await s.h.context(data.runId)).loyalty.body).toEqual({ verdict: 'cli' });
    const status = await runCli(['status'], env);
    expect(status.stdout).toMatch(/waiting for callbacks: \d+, held after CALLBACK_TIMEOUT: \d+/);
  }, 300_000); // the first run after a change builds dist/ (tsc) on a shared box
});
