/**
 * Operator routes scoped to a tenant (contract v1.1 section 6.1, docs/tenants.md): with a
 * `tenant`, inspect, retry, retry with data and discard by explicit job id see only that
 * tenant's jobs. Another tenant's job answers exactly like an id that does not exist (404 over
 * HTTP, "no job" and exit 1 from the CLI), never 403, and nothing is done. Two tenants, a real
 * worker, real Redis, the /v1/ops routes on a real server and the built CLI.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { opsRoutes } from '../../src/api/routes/ops.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';

let h: Harness;
let up: Upstream;
let ops: Ops;
let app: FastifyInstance;
/** A failed job of each tenant (the partner answers 400: permanent, one attempt). */
const ids = { acme: '', globex: '', unknown: 'ik.run-nobody.fetch-loyalty.1' };

beforeAll(async () => {
  ensureBuilt();
  up = await startUpstream((_r, res) => json(res, 400, { error: 'bad' }));
  h = await startHarness();
  ops = createOps(h.cfg, h.redis);
  app = await buildServer({
    cfg: loadConfig({ ...h.ns.env, LOG_LEVEL: 'silent' }),
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [opsRoutes(ops)],
  });
  for (const tenant of ['acme', 'globex'] as const) {
    const data = jobData({ tenantId: tenant, request: { url: `${up.url}/loyalty` } });
    ids[tenant] = (await h.queue.add('invoke', data, { jobId: idempotencyKey(data), attempts: 3 }))
      .id!;
    await waitForJob(h.queue, ids[tenant], 'failed');
  }
});

afterAll(async () => {
  await app?.close();
  await ops?.close();
  await h?.close();
  await up?.close();
});

const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
const state = (id: string) => h.queue.getJobState(id);
/** A 404 answer with the id named, so two answers compare alike apart from the id. */
const shape = (body: string, id: string) => body.split(id).join('<id>');

describe('HTTP /v1/ops scoped to a tenant', () => {
  it("inspect: another tenant's job is 404 exactly like an unknown id; its own is shown", async () => {
    const foreign = await app.inject({ url: `/v1/ops/jobs/${ids.globex}?tenant=acme` });
    const unknown = await app.inject({ url: `/v1/ops/jobs/${ids.unknown}?tenant=acme` });
    expect(foreign.statusCode).toBe(404);
    expect(shape(foreign.body, ids.globex)).toBe(shape(unknown.body, ids.unknown));
    expect(foreign.body).not.toContain('globex');
    const own = await app.inject({ url: `/v1/ops/jobs/${ids.acme}?tenant=acme` });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: ids.acme, state: 'failed', data: { tenantId: 'acme' } });
    // Unscoped (the platform operator) sees every tenant's job, as before.
    expect((await app.inject({ url: `/v1/ops/jobs/${ids.globex}` })).statusCode).toBe(200);
  });

  it("retry and discard by id: 404 like an unknown id, nothing done, even for the ids of the caller's own tenant in the same call", async () => {
    for (const route of ['/v1/ops/retry', '/v1/ops/discard']) {
      const foreign = await post(route, { ids: [ids.acme, ids.globex], tenant: 'acme' });
      const unknown = await post(route, { ids: [ids.acme, ids.unknown], tenant: 'acme' });
      expect(foreign.statusCode).toBe(404);
      expect(foreign.json()).toEqual({
        error: 'not found',
        message: `ids: no job ${ids.globex} for tenant acme; nothing done`,
      });
      expect(shape(foreign.body, ids.globex)).toBe(shape(unknown.body, ids.unknown));
    }
    expect(await state(ids.acme)).toBe('failed');
    expect(await state(ids.globex)).toBe('failed');
  });

  it('retry with data by id: 404 like an unknown id, the job untouched', async () => {
    const foreign = await post(`/v1/ops/jobs/${ids.globex}/retry`, {
      data: { customer: { id: 'x' } },
      tenant: 'acme',
    });
    const unknown = await post(`/v1/ops/jobs/${ids.unknown}/retry`, {
      data: { customer: { id: 'x' } },
      tenant: 'acme',
    });
    expect(foreign.statusCode).toBe(404);
    expect(shape(foreign.body, ids.globex)).toBe(shape(unknown.body, ids.unknown));
    expect((await h.queue.getJob(ids.globex))!.data.data).toEqual({
      customer: { id: 'cus-123', email: 'a@b.co' },
    });
  });

  it('the caller\'s own jobs are acted on; "-" scopes to jobs without a tenant; a bad tenant is 400 naming it', async () => {
    const dry = await post('/v1/ops/discard', { ids: [ids.acme], tenant: 'acme', dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({ matched: 1, removed: [ids.acme] });
    expect((await app.inject({ url: `/v1/ops/jobs/${ids.acme}?tenant=-` })).statusCode).toBe(404);
    const bad = await post('/v1/ops/retry', { ids: [ids.acme], tenant: 'ac me' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/tenant/);
    const conflict = await post('/v1/ops/retry', { filter: { tenant: 'globex' }, tenant: 'acme' });
    expect(conflict.statusCode).toBe(400);
    expect(conflict.body).toMatch(/filter\.tenant|differs from tenant/);
  });
});

describe('CLI scoped with --tenant', { timeout: 180_000 }, () => {
  const cli = (...args: string[]) => runCli(args, h.ns.env);

  it('inspect, retry and discard of another tenant\'s job: "no job", exit 1, like an unknown id; nothing done', async () => {
    const [inspect, inspectUnknown, retry, retryUnknown, discard] = await Promise.all([
      cli('inspect', ids.globex, '--tenant', 'acme'),
      cli('inspect', ids.unknown, '--tenant', 'acme'),
      cli('retry', ids.globex, '--tenant', 'acme'),
      cli('retry', ids.unknown, '--tenant', 'acme'),
      cli('discard', ids.globex, '--tenant', 'acme'),
    ]);
    expect(inspect).toMatchObject({ code: 1, stdout: '' });
    expect(shape(inspect.stderr, ids.globex)).toBe(shape(inspectUnknown.stderr, ids.unknown));
    expect(retry).toMatchObject({
      code: 1,
      stderr: `invoke-api: ids: no job ${ids.globex} for tenant acme; nothing done\n`,
    });
    expect(shape(retry.stderr, ids.globex)).toBe(shape(retryUnknown.stderr, ids.unknown));
    expect(discard.code).toBe(1);
    expect(await state(ids.globex)).toBe('failed');
    const own = await cli('inspect', ids.acme, '--tenant', 'acme', '--json');
    expect(own.code).toBe(0);
    expect(own.json()).toMatchObject({ id: ids.acme, data: { tenantId: 'acme' } });
  });
});
