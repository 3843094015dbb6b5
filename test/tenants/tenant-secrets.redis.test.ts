/**
 * Tenant secrets through the real worker (contract v1.1 section 6.1): each tenant gets its own
 * value for the same name, platform secrets only where INVOKE_SECRET_<NAME>_TENANTS allows,
 * hosts enforced, an undecryptable secret fails permanently naming it, another tenant's run is
 * refused, and no value is ever in Redis in clear.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { dumpNamespace } from '../helpers/redis.js';
import { waitForJob } from '../helpers/wait.js';
import { runJob } from '../http/loopback.js';

const ACME = 'acme_Secret+Value/1==';
const GLOBEX = 'globex_Secret+Value/2==';
const SHARED = 'platform_shared_value_3';
const PRIVATE = 'platform_private_value_4';
const VALUES = [ACME, GLOBEX];

let h: Harness;
let up: Upstream;

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({
    INVOKE_SECRETS_KEY: randomBytes(32).toString('base64'),
    INVOKE_SECRETS_CACHE_MS: '0',
    INVOKE_SECRET_SHARED: SHARED,
    INVOKE_SECRET_SHARED_TENANTS: 'acme',
    INVOKE_SECRET_PRIVATE: PRIVATE,
  });
  await h.app.tenancy.secrets.set('acme', 'API_KEY', { value: ACME, hosts: ['127.0.0.1'] });
  await h.app.tenancy.secrets.set('globex', 'API_KEY', { value: GLOBEX, hosts: ['127.0.0.1'] });
  up.handle((_r, res) => json(res, 200, { ok: true }));
});
afterAll(async () => {
  await h.close();
  await up.close();
});
afterEach(async () => {
  const dump = await dumpNamespace(h.redis, h.ns);
  for (const v of VALUES) {
    for (const spelling of [
      v,
      encodeURIComponent(v),
      Buffer.from(v).toString('base64'),
      JSON.stringify(v).slice(1, -1),
    ])
      expect(dump).not.toContain(spelling);
  }
  expect(h.logs.join('')).not.toMatch(/acme_Secret|globex_Secret/);
});

const keyHeader = (name: string) => ({ headers: { 'x-partner': `{{ secrets.${name} }}` } });
const lastKey = () => up.requests.at(-1)?.headers['x-partner'];

describe('tenant secrets in templates', () => {
  it('two tenants with a same-named secret each get their own value', async () => {
    await runJob(
      h,
      { tenantId: 'acme', request: { url: `${up.url}/a`, ...keyHeader('API_KEY') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe(ACME);
    await runJob(
      h,
      { tenantId: 'globex', request: { url: `${up.url}/g`, ...keyHeader('API_KEY') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe(GLOBEX);
    const events = await h.events();
    expect(events.slice(-2).map((e) => e.tenantId)).toEqual(['acme', 'globex']);
  });

  it('platform secrets: a tenant uses only those INVOKE_SECRET_<NAME>_TENANTS lists; v1 jobs use all, and no tenant secret', async () => {
    await runJob(
      h,
      { tenantId: 'acme', request: { url: `${up.url}/s`, ...keyHeader('SHARED') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe(SHARED);
    const denied = await runJob(h, {
      tenantId: 'globex',
      request: { url: `${up.url}/s`, ...keyHeader('SHARED') },
    });
    expect(denied).toMatchObject({
      attempts: 1,
      error: {
        code: 'TEMPLATE_ERROR',
        retryable: false,
        message: expect.stringContaining('SHARED'),
      },
    });
    // The fix for a tenant job is the tenant's secret (route or CLI), or the platform _TENANTS list.
    expect(denied.error?.message).toBe(
      'request.headers.x-partner: unknown secret SHARED (save it for tenant globex: invoke-api secrets set globex SHARED --hosts HOST, or PUT /v1/tenants/globex/secrets/SHARED; a platform INVOKE_SECRET_SHARED serves a tenant only when INVOKE_SECRET_SHARED_TENANTS lists it)',
    );
    const priv = await runJob(h, {
      tenantId: 'acme',
      request: { url: `${up.url}/p`, ...keyHeader('PRIVATE') },
    });
    expect(priv.error?.code).toBe('TEMPLATE_ERROR');
    await runJob(
      h,
      { request: { url: `${up.url}/v1`, ...keyHeader('PRIVATE') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe(PRIVATE);
    const v1 = await runJob(h, { request: { url: `${up.url}/v1`, ...keyHeader('API_KEY') } });
    expect(v1.error).toMatchObject({
      code: 'TEMPLATE_ERROR',
      message: 'request.headers.x-partner: unknown secret API_KEY (set INVOKE_SECRET_API_KEY)',
    });
    expect((await h.events()).at(-1)?.tenantId).toBe('');
  });

  it('a tenant secret goes only to its hosts (URL_BLOCKED, not retried, never sent)', async () => {
    await h.app.tenancy.secrets.set('initech', 'BOUND', {
      value: ACME,
      hosts: ['api.partner.example'],
    });
    const before = up.requests.length;
    const env = await runJob(h, {
      tenantId: 'initech',
      request: { url: `${up.url}/b`, ...keyHeader('BOUND') },
    });
    expect(env).toMatchObject({
      attempts: 1,
      error: { code: 'URL_BLOCKED', message: expect.stringContaining('BOUND') },
    });
    expect(up.requests.length).toBe(before);
  });

  it('a changed or deleted secret takes effect (cache 0 here); a deleted one is unknown', async () => {
    await h.app.tenancy.secrets.set('umbrella', 'K', {
      value: 'first-umbrella-value',
      hosts: ['127.0.0.1'],
    });
    await runJob(
      h,
      { tenantId: 'umbrella', request: { url: `${up.url}/u`, ...keyHeader('K') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe('first-umbrella-value');
    await h.app.tenancy.secrets.set('umbrella', 'K', {
      value: 'second-umbrella-value',
      hosts: ['127.0.0.1'],
    });
    await runJob(
      h,
      { tenantId: 'umbrella', request: { url: `${up.url}/u`, ...keyHeader('K') } },
      { expect: 'completed' },
    );
    expect(lastKey()).toBe('second-umbrella-value');
    await h.app.tenancy.secrets.delete('umbrella', 'K');
    const env = await runJob(h, {
      tenantId: 'umbrella',
      request: { url: `${up.url}/u`, ...keyHeader('K') },
    });
    expect(env.error?.code).toBe('TEMPLATE_ERROR');
  });

  it('a secret that does not decrypt fails its job at once, naming the secret, never its value', async () => {
    await h.app.tenancy.secrets.set('hooli', 'MOVED', {
      value: 'hooli-value',
      hosts: ['127.0.0.1'],
    });
    // Another tenant's ciphertext copied under hooli's name: authentication fails (AAD).
    const raw = await h.redis.hget(`${h.cfg.INVOKE_VAULT_PREFIX}:{acme}:secret`, 'API_KEY');
    await h.redis.hset(`${h.cfg.INVOKE_VAULT_PREFIX}:{hooli}:secret`, 'MOVED', raw!);
    const env = await runJob(
      h,
      { tenantId: 'hooli', request: { url: `${up.url}/h`, ...keyHeader('MOVED') } },
      { attempts: 3 },
    );
    expect(env).toMatchObject({
      attempts: 1,
      error: {
        code: 'TEMPLATE_ERROR',
        retryable: false,
        message: expect.stringContaining('secrets.MOVED of tenant hooli cannot be decrypted'),
      },
    });
    expect(JSON.stringify(env)).not.toContain(ACME);
  });
});

describe('run ownership', () => {
  it("a tenant's job on another tenant's run fails INVALID_JOB without reading, saving or emitting", async () => {
    const data = jobData({ tenantId: 'acme', request: { url: `${up.url}/own` } });
    await runJob(h, data, { expect: 'completed' });
    const before = await h.context(data.runId);
    const eventsBefore = (await h.events()).length;
    const requestsBefore = up.requests.length;
    const intruder = {
      ...jobData({
        tenantId: 'globex',
        request: { url: `${up.url}/steal?c={{ context.loyalty.body.ok }}` },
      }),
      runId: data.runId,
      stepId: 'intrude',
    };
    const job = await h.queue.add('invoke', intruder, { attempts: 3 });
    const failed = await waitForJob(h.queue, job.id!, 'failed');
    expect(failed.failedReason).toContain('belongs to another tenant');
    expect(failed.attemptsMade).toBe(1);
    expect(await h.context(data.runId)).toEqual(before);
    expect((await h.events()).length).toBe(eventsBefore);
    expect(up.requests.length).toBe(requestsBefore);
  });
});
