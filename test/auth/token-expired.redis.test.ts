/**
 * A credential's tokenExpired rule: partners that say "token expired" in a 200 body get the
 * 401 treatment (drop the token, send again at once with a new one, inside the attempt), once
 * per attempt. Real worker, real Redis, a real token server and partner on loopback.
 */
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialRoutes } from '../../src/api/routes/credentials.js';
import { createCredentialAdmin } from '../../src/auth/index.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { waitForJob } from '../helpers/wait.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const KEY = randomBytes(32).toString('base64');
const RULE = 'response.status == 200 and response.body.error == "token_expired"';
const NAMES = ['ONCE', 'ALWAYS', 'NORULE', 'BUDGET'] as const;
type Name = (typeof NAMES)[number];
const servers = {} as Record<Name, TokenServer>;
let h: Harness;
const fast = { attempts: 3, backoff: { type: 'fixed', delay: 30 } };

const credential = (name: Name, tokenExpired?: string) => ({
  type: 'oauth2_client_credentials',
  hosts: ['127.0.0.1'],
  tokenUrl: servers[name].tokenUrl,
  clientId: 'client-1',
  clientSecret: `cs-${name}-0123456789`,
  ...(tokenExpired ? { tokenExpired } : {}),
});

beforeAll(async () => {
  for (const name of NAMES)
    servers[name] = await startTokenServer({
      clientSecret: `cs-${name}-0123456789`,
      refusal: 'body',
    });
  h = await startHarness({
    INVOKE_SECRETS_KEY: KEY,
    INVOKE_CREDENTIAL_ALWAYS: JSON.stringify(credential('ALWAYS', RULE)),
    INVOKE_CREDENTIAL_NORULE: JSON.stringify(credential('NORULE')),
    INVOKE_CREDENTIAL_BUDGET: JSON.stringify(credential('BUDGET', '(1..100000000) contains 5')),
  });
});

afterAll(async () => {
  await h.close();
  for (const s of Object.values(servers)) await s.close();
});

async function run(name: Name, state: 'completed' | 'failed', over: Record<string, unknown> = {}) {
  const data = jobData({
    request: { url: servers[name].partnerUrl, auth: { credential: name } },
    ...over,
  });
  const done = await waitForJob(h.queue, (await h.queue.add('invoke', data, fast)).id!, state);
  return { data, done: done!, envelope: (await h.context(data.runId)).loyalty };
}

describe('tokenExpired on an OAuth2 credential', () => {
  it('200 {"error":"token_expired"} to the first token: two token requests, one attempt, success (a tenant credential saved over HTTP)', async () => {
    const s = servers.ONCE;
    s.set({ issueExpired: 1 });
    const app = Fastify();
    await app.register(credentialRoutes(createCredentialAdmin(h.cfg, h.redis)));
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/v1/tenants/acme/credentials/ONCE',
          payload: credential('ONCE', RULE),
        })
      ).statusCode,
    ).toBe(204);
    await app.close();
    const { done, envelope } = await run('ONCE', 'completed', { tenantId: 'acme' });
    expect(done.attemptsMade).toBe(1);
    expect(envelope).toMatchObject({ ok: true, attempts: 1, body: { ok: true, points: 42 } });
    expect(s.tokenRequests()).toHaveLength(2);
    expect(s.partnerRequests().map((r) => r.headers.authorization)).toEqual([
      `Bearer ${s.issued[0]}`,
      `Bearer ${s.issued[1]}`,
    ]);
  });

  it('a partner that always says expired fails at once with a permanent AUTH_ERROR: one new token, never a loop', async () => {
    const s = servers.ALWAYS;
    s.set({ partnerRefusesAll: true });
    const { done, envelope, data } = await run('ALWAYS', 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope).toMatchObject({
      ok: false,
      status: 200,
      error: {
        code: 'AUTH_ERROR',
        retryable: false,
        message: expect.stringMatching(/credential ALWAYS: .*tokenExpired held twice/),
      },
    });
    expect(s.tokenRequests()).toHaveLength(2);
    expect(s.partnerRequests()).toHaveLength(2);
    expect((await h.events()).filter((e) => e.runId === data.runId)).toMatchObject([
      { type: 'invoke.failed', errorCode: 'AUTH_ERROR' },
    ]);
  });

  it("without the rule a 200 is the partner's answer: no second token, the step succeeds (v1 behaviour)", async () => {
    const s = servers.NORULE;
    s.set({ issueExpired: 1 });
    const { envelope } = await run('NORULE', 'completed');
    expect(envelope).toMatchObject({ ok: true, body: { error: 'token_expired' } });
    expect(s.tokenRequests()).toHaveLength(1);
  });

  it('a rule over its budget is a permanent AUTH_ERROR naming tokenExpired, not a resend', async () => {
    const { done, envelope } = await run('BUDGET', 'failed');
    expect(done.attemptsMade).toBe(1);
    expect(envelope.error).toMatchObject({
      code: 'AUTH_ERROR',
      retryable: false,
      message: 'credential BUDGET: tokenExpired: memory alloc limit exceeded',
    });
    expect(servers.BUDGET.partnerRequests()).toHaveLength(1);
  });

  it('a syntax error is refused when the credential is saved: 400 naming tokenExpired, nothing written', async () => {
    const app = Fastify();
    const admin = createCredentialAdmin(h.cfg, h.redis);
    await app.register(credentialRoutes(admin));
    const bad = await app.inject({
      method: 'PUT',
      url: '/v1/tenants/acme/credentials/BROKEN',
      payload: credential('ONCE', 'response.body.error == '),
    });
    await app.close();
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      field: 'tokenExpired',
      message: expect.stringMatching(/^tokenExpired: not a Liquid condition/),
    });
    expect((await admin.list('acme')).map((c) => c.name)).not.toContain('BROKEN');
  });
});
