/**
 * Redo with changes, end to end: a held job failed because the customer's email was wrong (the
 * partner answers 422); the operator retries it with corrected data through the built CLI and
 * the HTTP API. The partner then gets the corrected value under the same Idempotency-Key, the
 * event carries the same eventId, and the action is on the job's record. Bad data is refused
 * before anything changes, naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { buildServer } from '../../src/api/server.js';
import { opsRoutes } from '../../src/api/routes/ops.js';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/config.js';
import { readRecords } from '../../src/attempts/store.js';

let h: Harness;
let up: Upstream;
let ops: Ops;
let app: FastifyInstance;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'retry-with-data-'));

beforeAll(async () => {
  ensureBuilt();
  up = await startUpstream((r, res) => {
    const { email } = JSON.parse(r.body || '{}') as { email?: string };
    return email?.includes('@')
      ? json(res, 200, { enrolled: email })
      : json(res, 422, { error: 'invalid email' });
  });
  h = await startHarness();
  env = { ...h.ns.env, INVOKE_REDIS_STARTUP_GRACE_MS: '3000' };
  ops = createOps(h.cfg, h.redis);
  const cfg = loadConfig({ ...h.ns.env, LOG_LEVEL: 'silent' });
  app = await buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [opsRoutes(ops)],
  });
});
afterAll(async () => {
  await app?.close();
  await ops?.close();
  await h?.close();
  await up?.close();
});

async function heldJob(tag: string): Promise<string> {
  const data = jobData({
    stepId: `enroll-${tag}`,
    onFailure: 'hold',
    data: { customer: { id: 'cus-9', email: 'no-at-sign', name: 'Ada' } },
    request: {
      method: 'POST',
      url: `${up.url}/enroll`,
      body: { email: '{{ customer.email }}' },
      idempotencyHeader: 'Idempotency-Key',
    },
  });
  const id = idempotencyKey(data);
  await h.queue.add('invoke', data, {
    jobId: id,
    attempts: 3,
    backoff: { type: 'fixed', delay: 10 },
  });
  await waitForJob(h.queue, id, 'failed');
  return id;
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('retry with corrected data', { timeout: 120_000 }, () => {
  it('CLI: re-runs a held job with the new data, same idempotency key, recorded as an operator action', async () => {
    const id = await heldJob('cli');
    const before = up.requests.length;
    expect(JSON.parse(up.requests.at(-1)!.body)).toEqual({ email: 'no-at-sign' });
    const firstKey = up.requests.at(-1)!.headers['idempotency-key'];

    const r = await runCli(
      [
        'retry',
        id,
        '--with-data',
        file(
          'fixed.json',
          JSON.stringify({ customer: { id: 'cus-9', email: 'ada@example.com', name: 'Ada' } }),
        ),
        '--by',
        'alice',
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${id}: retried with new data (same idempotency key)`);
    expect(r.stdout).toContain('changed: data.customer.email');

    await waitForJob(h.queue, id, 'completed');
    const last = up.requests.at(-1)!;
    expect(up.requests.length).toBe(before + 1);
    expect(JSON.parse(last.body)).toEqual({ email: 'ada@example.com' });
    expect(last.headers['idempotency-key']).toBe(firstKey);
    const [event] = (await h.events()).filter((e) => e.jobId === id);
    expect(event).toMatchObject({ type: 'invoke.completed', eventId: firstKey });

    const { records } = await waitFor(async () => {
      const rr = await readRecords(h.redis, `${h.queue.qualifiedName}:${id}`);
      return rr.records.length >= 3 && rr;
    }, 'records of the retried job');
    expect(
      records.map((x) =>
        x.kind === 'attempt'
          ? `attempt ${x.n} ${x.outcome} ${x.status}`
          : `${x.action} by ${x.by}: ${x.changed.join(',')}`,
      ),
    ).toEqual([
      'attempt 1 held 422',
      'retry-with-data by alice: data.customer.email',
      'attempt 1 completed 200',
    ]);
    const shown = await runCli(['inspect', id], env);
    expect(shown.stdout).toMatch(
      /operator \S+ {2}retry-with-data by alice \(changed: data\.customer\.email\)/,
    );
  });

  it('CLI: refuses bad data and jobs that are not failed, changing nothing', async () => {
    const id = await heldJob('bad');
    const dataBefore = (await h.queue.getJob(id))!.data;

    const notObject = await runCli(['retry', id, '--with-data', file('array.json', '[1, 2]')], env);
    expect(notObject.code).toBe(1);
    expect(notObject.stderr).toMatch(
      /does not make a valid job; nothing changed:\n {2}data: must be a JSON object/,
    );

    const notJson = await runCli(
      ['retry', id, '--with-data', file('broken.json', '{"customer": ')],
      env,
    );
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/--with-data .*broken\.json: not JSON/);

    const missing = await runCli(['retry', id, '--with-data', join(dir, 'nope.json')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the file \(ENOENT\)/);

    const two = await runCli(['retry', id, 'other', '--with-data', file('ok.json', '{}')], env);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/exactly one job id/);

    expect(await h.queue.getJobState(id)).toBe('failed');
    expect((await h.queue.getJob(id))!.data).toEqual(dataBefore);

    const done = jobData({
      request: { method: 'POST', url: `${up.url}/enroll`, body: { email: 'x@y.z' } },
    });
    const doneId = idempotencyKey(done);
    await h.queue.add('invoke', done, { jobId: doneId });
    await waitForJob(h.queue, doneId, 'completed');
    const refused = await runCli(['retry', doneId, '--with-data', file('ok2.json', '{}')], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /is completed: only a failed or held job can be retried with new data/,
    );
  });

  it('HTTP: POST /v1/ops/jobs/{id}/retry validates, dry-runs and retries', async () => {
    const id = await heldJob('api');
    const bad = await app.inject({
      method: 'POST',
      url: `/v1/ops/jobs/${id}/retry`,
      payload: { data: 'oops' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'INVALID_JOB', issues: [{ path: 'data' }] });
    expect(
      (await app.inject({ method: 'POST', url: '/v1/ops/jobs/nope/retry', payload: { data: {} } }))
        .statusCode,
    ).toBe(404);

    const fixed = { customer: { id: 'cus-9', email: 'ada@api.example', name: 'Ada' } };
    const dry = await app.inject({
      method: 'POST',
      url: `/v1/ops/jobs/${id}/retry`,
      payload: { data: fixed, dryRun: true },
    });
    expect(dry.json()).toEqual({
      id,
      dryRun: true,
      retried: false,
      changed: ['data.customer.email'],
    });
    expect(await h.queue.getJobState(id)).toBe('failed');

    const ok = await app.inject({
      method: 'POST',
      url: `/v1/ops/jobs/${id}/retry`,
      payload: { data: fixed, by: 'oncall-bob' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ retried: true, changed: ['data.customer.email'] });
    await waitForJob(h.queue, id, 'completed');
    expect(JSON.parse(up.requests.at(-1)!.body)).toEqual({ email: 'ada@api.example' });
    const again = await app.inject({
      method: 'POST',
      url: `/v1/ops/jobs/${id}/retry`,
      payload: { data: fixed },
    });
    expect(again.statusCode).toBe(409);
  });
});
