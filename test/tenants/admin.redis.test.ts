/**
 * The write-only surfaces (contract v1.1 section 6.1) on a real server and the built CLI:
 * set/list/delete over HTTP and CLI, never a value back, 400 naming the field with nothing
 * written, the dry run's context bound to the run's tenant, rotate-key, and the start-up key
 * check naming the variable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { createProducerApi, type ProducerApi } from '../../src/api/producers.js';
import { contextKey } from '../../src/store/context.js';
import { ownerKey } from '../../src/tenants/ownership.js';
import { jobData } from '../helpers/harness.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CLI, ensureBuilt } from '../helpers/cli.js';
import {
  cleanNamespace,
  dumpNamespace,
  namespace,
  namespaceKeys,
  redisClient,
} from '../helpers/redis.js';

const TOKEN = 'test-token-0123456789abcdef';
const VALUE = 'tenant_Secret+Value/xyz==';
const ns = namespace('tenant-admin');
const redis = redisClient();
const KEY = randomBytes(32).toString('base64');
let cfg: Config;
let producers: ProducerApi;
let app: FastifyInstance;
let up: Upstream;
const auth = { authorization: `Bearer ${TOKEN}` };
const req = (method: 'PUT' | 'GET' | 'DELETE' | 'POST', url: string, payload?: unknown) =>
  app.inject({
    method,
    url,
    headers: auth,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

beforeAll(async () => {
  up = await startUpstream();
  cfg = loadConfig({
    ...ns.env,
    INVOKE_API_TOKEN: TOKEN,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRETS_KEY: KEY,
    INVOKE_SECRETS_CACHE_MS: '0',
    LOG_LEVEL: 'silent',
  });
  producers = createProducerApi(cfg);
  app = await buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: { redis: async () => true } },
    plugins: producers.plugins,
  });
  await app.ready();
});
afterAll(async () => {
  const dump = await dumpNamespace(redis, ns);
  expect(dump).not.toContain(VALUE);
  expect(dump).not.toContain(Buffer.from(VALUE).toString('base64'));
  await app.close();
  await producers.close();
  await up.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('HTTP: /v1/tenants/:tenantId/secrets', () => {
  it('PUT 204, GET lists name/hosts/updatedAt and never a value, DELETE 204 then 404', async () => {
    expect(
      (
        await req('PUT', '/v1/tenants/acme/secrets/API_KEY', {
          value: VALUE,
          hosts: ['API.partner.com', '*.loyalty.example'],
        })
      ).statusCode,
    ).toBe(204);
    const list = await req('GET', '/v1/tenants/acme/secrets');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual([
      {
        name: 'API_KEY',
        hosts: ['api.partner.com', '*.loyalty.example'],
        updatedAt: expect.stringMatching(/^\d{4}-/),
      },
    ]);
    expect(list.body).not.toContain(VALUE);
    expect((await req('GET', '/v1/tenants/globex/secrets')).json()).toEqual([]);
    expect((await req('DELETE', '/v1/tenants/acme/secrets/API_KEY')).statusCode).toBe(204);
    expect((await req('DELETE', '/v1/tenants/acme/secrets/API_KEY')).statusCode).toBe(404);
    expect((await req('GET', '/v1/tenants/acme/secrets')).json()).toEqual([]);
  });

  it.each([
    [
      'bad tenant id',
      '/v1/tenants/ac%20me/secrets/API_KEY',
      { value: VALUE, hosts: ['a.com'] },
      'tenantId',
    ],
    ['bad name', '/v1/tenants/acme/secrets/api_key', { value: VALUE, hosts: ['a.com'] }, 'name'],
    ['empty value', '/v1/tenants/acme/secrets/API_KEY', { value: '', hosts: ['a.com'] }, 'value'],
    [
      'over-long value',
      '/v1/tenants/acme/secrets/API_KEY',
      { value: 'x'.repeat(8193), hosts: ['a.com'] },
      'value',
    ],
    ['missing hosts', '/v1/tenants/acme/secrets/API_KEY', { value: VALUE }, 'hosts'],
    ['empty hosts', '/v1/tenants/acme/secrets/API_KEY', { value: VALUE, hosts: [] }, 'hosts'],
    [
      'a URL as a host',
      '/v1/tenants/acme/secrets/API_KEY',
      { value: VALUE, hosts: ['https://a.com/x'] },
      'hosts.0',
    ],
    [
      'an unknown field',
      '/v1/tenants/acme/secrets/API_KEY',
      { value: VALUE, hosts: ['a.com'], scope: 'x' },
      '',
    ],
  ])(
    '400 naming the field for a %s, nothing written, value not echoed',
    async (_what, url, body, field) => {
      const before = await namespaceKeys(redis, ns);
      const res = await req('PUT', url, body);
      expect(res.statusCode).toBe(400);
      if (field) expect(res.json().field).toBe(field);
      expect(res.body).not.toContain(VALUE);
      expect(await namespaceKeys(redis, ns)).toEqual(before);
    },
  );

  it('requires the token', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/tenants/acme/secrets' });
    expect(res.statusCode).toBe(401);
  });
});

describe("dry run: a run's context only for its tenant", () => {
  it("reads the context of its own run, refuses another tenant's run and a tenant run without tenantId", async () => {
    const runId = `run-${randomBytes(4).toString('hex')}`;
    await redis.hset(
      contextKey(cfg.INVOKE_CTX_PREFIX, runId),
      'loyalty',
      JSON.stringify({ ok: true, body: { tier: 'gold-private' } }),
    );
    await redis.set(ownerKey(cfg.INVOKE_CTX_PREFIX, runId), 'acme');
    const probe = (tenantId?: string) =>
      req('POST', '/v1/invocations/test', {
        ...jobData({ request: { url: `${up.url}/t?tier={{ context.loyalty.body.tier }}` } }),
        runId,
        ...(tenantId ? { tenantId } : {}),
      });
    const own = await probe('acme');
    expect(own.statusCode).toBe(200);
    expect(up.requests.at(-1)?.url).toContain('gold-private');
    const sent = up.requests.length;
    for (const intruder of ['globex', undefined]) {
      const res = await probe(intruder);
      expect(res.statusCode).toBe(200);
      expect(res.json().envelope.error).toMatchObject({
        code: 'INVALID_JOB',
        message: expect.stringContaining('not readable here'),
      });
      expect(res.body).not.toContain('gold-private');
    }
    expect(up.requests.length).toBe(sent);
  });
});

function cli(
  args: string[],
  env: Record<string, string>,
  stdin = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
      },
    );
    child.stdin!.end(stdin);
  });
}

describe('CLI: invoke-api secrets', () => {
  const env = () => ({ ...ns.env, INVOKE_SECRETS_KEY: KEY });
  beforeAll(() => ensureBuilt(), 120_000);

  it('set (value from stdin), list (never a value), delete', async () => {
    const set = await cli(
      ['secrets', 'set', 'initech', 'CLI_KEY', '--hosts', 'api.partner.com,*.x.example'],
      env(),
      `${VALUE}\n`,
    );
    expect(set).toMatchObject({ code: 0 });
    expect(set.stdout + set.stderr).not.toContain(VALUE);
    expect((await producers.tenancy.vault.get('initech', 'secret', 'CLI_KEY'))?.value).toBe(VALUE);
    const list = await cli(['secrets', 'list', 'initech', '--json'], env());
    expect(JSON.parse(list.stdout)).toEqual([
      { name: 'CLI_KEY', hosts: ['api.partner.com', '*.x.example'], updatedAt: expect.any(String) },
    ]);
    expect(
      (await cli(['secrets', 'set', 'initech', 'CLI_KEY', '--hosts', 'a.com'], env(), '')).code,
    ).toBe(2);
    const bad = await cli(
      ['secrets', 'set', 'initech', 'bad-name', '--hosts', 'a.com'],
      env(),
      VALUE,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/name: must match/);
    expect((await cli(['secrets', 'delete', 'initech', 'CLI_KEY'], env())).code).toBe(0);
    expect((await cli(['secrets', 'delete', 'initech', 'CLI_KEY'], env())).code).toBe(1);
  }, 60_000);

  it('rotate-key re-encrypts under the new key while the old one still opens; then the old key can go', async () => {
    await producers.tenancy.secrets.set('rot', 'R1', { value: VALUE, hosts: ['a.com'] });
    const newKey = randomBytes(32).toString('base64');
    const rot = await cli(['secrets', 'rotate-key', '--json'], {
      ...ns.env,
      INVOKE_SECRETS_KEY: newKey,
      INVOKE_SECRETS_OLD_KEYS: KEY,
    });
    expect(rot.code).toBe(0);
    expect(JSON.parse(rot.stdout)).toMatchObject({ failed: [], raced: 0 });
    expect(JSON.parse(rot.stdout).resealed).toBeGreaterThanOrEqual(1);
    const list = await cli(['secrets', 'list', 'rot', '--json'], {
      ...ns.env,
      INVOKE_SECRETS_KEY: newKey,
    });
    expect(JSON.parse(list.stdout)).toHaveLength(1);
    // Back to the original key for the rest of the file.
    const back = await cli(['secrets', 'rotate-key', '--json'], {
      ...ns.env,
      INVOKE_SECRETS_KEY: KEY,
      INVOKE_SECRETS_OLD_KEYS: newKey,
    });
    expect(back.code).toBe(0);
    expect((await producers.tenancy.vault.get('rot', 'secret', 'R1'))?.value).toBe(VALUE);
  }, 60_000);
});
