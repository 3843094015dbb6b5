/**
 * Tenant credentials: the write-only admin over the vault (HTTP routes and CLI), used by a real
 * worker for its tenant's jobs only, with the cached token dropped when a credential is replaced
 * (client secret rotation) or refreshed by an operator.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialRoutes } from '../../src/api/routes/credentials.js';
import { createCredentialAdmin } from '../../src/auth/index.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { CLI, ensureBuilt } from '../helpers/cli.js';
import { dumpNamespace } from '../helpers/redis.js';
import { waitForJob } from '../helpers/wait.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const KEY = randomBytes(32).toString('base64');
let h: Harness;
let server: TokenServer;
let platform: TokenServer;
let admin: ReturnType<typeof createCredentialAdmin>;
const secretV1 = `cs-v1-${randomBytes(8).toString('hex')}`;
const secretV2 = `cs-v2-${randomBytes(8).toString('hex')}`;
const credential = (clientSecret: string) => ({
  type: 'oauth2_client_credentials',
  hosts: ['127.0.0.1'],
  tokenUrl: server.tokenUrl,
  clientId: 'client-1',
  clientSecret,
});

beforeAll(async () => {
  server = await startTokenServer({ clientSecret: secretV1 });
  platform = await startTokenServer({ clientSecret: 'platform-secret-0123456789' });
  h = await startHarness({
    INVOKE_SECRETS_KEY: KEY,
    INVOKE_CREDENTIAL_SHARED: JSON.stringify({
      type: 'oauth2_client_credentials',
      hosts: ['127.0.0.1'],
      tokenUrl: platform.tokenUrl,
      clientId: 'client-1',
      clientSecret: 'platform-secret-0123456789',
    }),
    INVOKE_CREDENTIAL_SHARED_TENANTS: 'globex',
  });
  admin = createCredentialAdmin(h.cfg, h.redis);
});

afterAll(async () => {
  await h.close();
  await server.close();
  await platform.close();
});

async function run(
  tenantId: string,
  name: string,
  url = server.partnerUrl,
  state: 'completed' | 'failed' = 'completed',
) {
  const data = jobData({ tenantId, request: { url, auth: { credential: name } } });
  const added = await h.queue.add('invoke', data, {
    attempts: 2,
    backoff: { type: 'fixed', delay: 30 },
  });
  const done = await waitForJob(h.queue, added.id!, state);
  return { done: done!, envelope: (await h.context(data.runId)).loyalty };
}

describe('a tenant credential', () => {
  it("is used by its tenant's jobs, never by another tenant's", async () => {
    await admin.set('acme', 'CRM', credential(secretV1));
    expect((await run('acme', 'CRM')).envelope.ok).toBe(true);
    const other = await run('globex', 'CRM', server.partnerUrl, 'failed');
    expect(other.done.attemptsMade).toBe(1);
    expect(other.envelope.error).toMatchObject({
      code: 'AUTH_ERROR',
      retryable: false,
      message: expect.stringMatching(/no credential for tenant globex named CRM/),
    });
    expect(server.tokenRequests()).toHaveLength(1);
  });

  it('a platform credential serves the tenants its _TENANTS lists, and only those', async () => {
    expect((await run('globex', 'SHARED', platform.partnerUrl)).envelope.ok).toBe(true);
    expect((await run('acme', 'SHARED', platform.partnerUrl, 'failed')).envelope.error.code).toBe(
      'AUTH_ERROR',
    );
  });

  it('client secret rotation: the new secret is saved, the old token dropped, the next call uses a token from the new secret', async () => {
    server.set({ clientSecret: secretV2 });
    server.valid.clear();
    await admin.set('acme', 'CRM', credential(secretV2));
    const before = server.tokenRequests().length;
    const { envelope, done } = await run('acme', 'CRM');
    expect(envelope.ok).toBe(true);
    expect(done.attemptsMade).toBe(1);
    expect(server.tokenRequests()).toHaveLength(before + 1);
    const basic = String(server.tokenRequests().at(-1)!.headers.authorization).slice(6);
    expect(Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent)[1]).toBe(
      secretV2,
    );
  });

  it('a rotation at the token server alone (old secret still saved) is a permanent AUTH_ERROR', async () => {
    await admin.set('acme', 'OLD', credential(secretV1));
    const { done, envelope } = await run('acme', 'OLD', server.partnerUrl, 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope.error).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
  });

  it('is listed with type and hosts only, and stored encrypted', async () => {
    expect(await admin.list('acme')).toEqual(
      [
        {
          name: 'CRM',
          type: 'oauth2_client_credentials',
          hosts: ['127.0.0.1'],
          updatedAt: expect.any(String),
        },
        {
          name: 'OLD',
          type: 'oauth2_client_credentials',
          hosts: ['127.0.0.1'],
          updatedAt: expect.any(String),
        },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );
    const dump = await dumpNamespace(h.redis, h.ns);
    for (const v of [secretV1, secretV2, ...server.issued, ...platform.issued])
      expect(dump).not.toContain(v);
  });
});

describe('HTTP routes', () => {
  it('PUT 204, GET without secrets, 400 naming the field with nothing written, DELETE 204 then 404', async () => {
    const app = Fastify();
    await app.register(credentialRoutes(admin));
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/tenants/initech/credentials/ERP',
      payload: { type: 'basic', hosts: ['erp.example'], username: 'u', password: 'pw-0123456789' },
    });
    expect(put.statusCode).toBe(204);
    const list = await app.inject({ method: 'GET', url: '/v1/tenants/initech/credentials' });
    expect(list.json()).toEqual([
      { name: 'ERP', type: 'basic', hosts: ['erp.example'], updatedAt: expect.any(String) },
    ]);
    expect(list.body).not.toContain('pw-0123456789');
    const bad = await app.inject({
      method: 'PUT',
      url: '/v1/tenants/initech/credentials/HOOK',
      payload: { type: 'hmac', hosts: [], secret: 'hunter2-hmac', header: 'X-Sig' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ field: 'hosts' });
    expect(bad.body).not.toContain('hunter2-hmac');
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/v1/tenants/initech/credentials/lower',
          payload: {},
        })
      ).json(),
    ).toMatchObject({ field: 'name' });
    expect((await admin.list('initech')).map((c) => c.name)).toEqual(['ERP']);
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/tenants/initech/credentials/ERP' }))
        .statusCode,
    ).toBe(204);
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/tenants/initech/credentials/ERP' }))
        .statusCode,
    ).toBe(404);
    await app.close();
  });
});

describe('CLI', () => {
  const cli = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, 'credentials', ...args],
        { env: { PATH: process.env.PATH ?? '', ...h.ns.env, INVOKE_SECRETS_KEY: KEY } },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 99) : 0, stdout, stderr }),
      );
      child.stdin!.end(input ?? '');
    });

  it('set reads the JSON from stdin; list shows no secret; refresh drops the cached token', async () => {
    ensureBuilt();
    const set = await cli(['set', 'acme', 'CLI_CRM'], JSON.stringify(credential(secretV2)));
    expect(set).toMatchObject({ code: 0 });
    const list = await cli(['list', 'acme', '--json']);
    expect(JSON.parse(list.stdout).map((c: { name: string }) => c.name)).toContain('CLI_CRM');
    expect(list.stdout).not.toContain(secretV2);
    await run('acme', 'CLI_CRM');
    const key = `${h.cfg.BULLMQ_PREFIX}:auth:{tenant:acme:CLI_CRM}:token`;
    expect(await h.redis.exists(key)).toBe(1);
    expect(await cli(['refresh', 'acme', 'CLI_CRM'])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/dropped/),
    });
    expect(await h.redis.exists(key)).toBe(0);
    const bad = await cli(
      ['set', 'acme', 'X'],
      '{"type":"basic","hosts":["x.com"],"username":"u"}',
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/password/);
  }, 120_000); // five CLI processes, each loading node and its modules
});
