/** The dashboard's envelopes (api/dashboard-envelopes.ts) against the real Redis: which job gets which, and masking. */
import { afterAll, describe, expect, it } from 'vitest';
import { createEnvelopeReader, type FinishedJob } from '../../src/api/dashboard-envelopes.js';
import { loadConfig } from '../../src/config.js';
import { contextKey } from '../../src/store/context.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const SECRET = 'sk_live_dashboard_secret_42';
const ns = namespace('dash');
const redis = redisClient();
const cfg = loadConfig({ ...ns.env, INVOKE_SECRET_PARTNER: SECRET });
const attach = createEnvelopeReader(redis, cfg);
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

const step = (runId: string, visit = 1) => ({
  runId,
  stepId: 'fetch',
  visit,
  save: { variable: 'loyalty' },
});
const finished = (data: unknown, returnvalue: unknown = null): FinishedJob => ({
  data,
  finishedOn: Date.now(),
  returnvalue,
});
const save = (runId: string, envelope: unknown) =>
  redis.hset(contextKey(cfg.INVOKE_CTX_PREFIX, runId), 'loyalty', JSON.stringify(envelope));

describe('envelopes on the dashboard', () => {
  it('sets the saved envelope as the return value, with secrets and credential headers masked', async () => {
    await save('run-a', {
      ok: true,
      status: 200,
      body: { echo: SECRET },
      headers: { 'set-cookie': 'sid=1', 'x-api-key': 'k', etag: 'v1' },
      eventId: 'ik.run-a.fetch.1',
    });
    const job = finished(step('run-a'));
    await attach([job]);
    expect(job.returnvalue).toEqual({
      ok: true,
      status: 200,
      body: { echo: '[REDACTED]' },
      headers: { 'set-cookie': '[REDACTED]', 'x-api-key': '[REDACTED]', etag: 'v1' },
      eventId: 'ik.run-a.fetch.1',
    });
  });

  it('leaves jobs alone when the variable holds another visit, nothing is saved, or the job is not finished', async () => {
    await save('run-b', {
      ok: true,
      status: 200,
      body: 2,
      headers: {},
      eventId: 'ik.run-b.fetch.2',
    });
    const older = finished(step('run-b', 1));
    const none = finished(step('run-none'));
    const running = { data: step('run-b', 2), returnvalue: null } as FinishedJob;
    await attach([older, none, running]);
    expect([older.returnvalue, none.returnvalue, running.returnvalue]).toEqual([null, null, null]);
    const current = finished(step('run-b', 2));
    await attach([current]);
    expect(current.returnvalue).toMatchObject({ body: 2 });
  });
});
