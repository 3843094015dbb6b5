/**
 * The dry run with request.auth: it says which credential the call used and whether a token was
 * obtained or came from the cache, and never shows the token (not even echoed by the partner).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDryRun, type DryRun } from '../../src/dry-run/dry-run.js';
import { jobData } from '../helpers/harness.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const ns = namespace('auth-dry');
const redis = redisClient();
const clientSecret = `cs-${randomBytes(8).toString('hex')}`;
let server: TokenServer;
let dry: DryRun;

beforeAll(async () => {
  server = await startTokenServer({ clientSecret });
  const cred = {
    type: 'oauth2_client_credentials',
    hosts: ['127.0.0.1'],
    tokenUrl: server.tokenUrl,
    clientId: 'client-1',
    clientSecret,
  };
  dry = createDryRun(
    loadConfig({
      ...ns.env,
      INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
      INVOKE_SECRETS_KEY: randomBytes(32).toString('base64'),
      INVOKE_CREDENTIAL_CRM: JSON.stringify(cred),
      INVOKE_CREDENTIAL_BROKEN: JSON.stringify({ ...cred, clientSecret: 'wrong-secret-0123' }),
    }),
  );
});
afterAll(async () => {
  await dry.close();
  await server.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('dry run with request.auth', () => {
  it('names the credential and says a token was obtained, then that it came from the cache; never the token', async () => {
    const job = jobData({ request: { url: server.partnerUrl, auth: { credential: 'CRM' } } });
    const first = await dry.run(job);
    expect(first.auth).toEqual({
      credential: 'CRM',
      source: 'platform',
      type: 'oauth2_client_credentials',
      token: 'obtained',
    });
    expect(first.envelope).toMatchObject({
      ok: true,
      body: { echo: { authorization: 'Bearer [REDACTED]' } },
    });
    const second = await dry.run(job);
    expect(second.auth).toMatchObject({ token: 'cached' });
    expect(server.tokenRequests()).toHaveLength(1);
    for (const r of [first, second]) {
      expect(JSON.stringify(r)).not.toContain(server.issued[0]);
      expect(JSON.stringify(r)).not.toContain(clientSecret);
    }
  });

  it('shows the credential and a failed token request as an AUTH_ERROR envelope', async () => {
    const result = await dry.run(
      jobData({ request: { url: server.partnerUrl, auth: { credential: 'BROKEN' } } }),
    );
    expect(result.auth).toMatchObject({ credential: 'BROKEN', token: 'failed' });
    expect(result.envelope.error).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
    expect(JSON.stringify(result)).not.toContain('wrong-secret-0123');
  });

  it('an unknown credential: auth null, AUTH_ERROR naming it', async () => {
    const result = await dry.run(
      jobData({ request: { url: server.partnerUrl, auth: { credential: 'NOPE' } } }),
    );
    expect(result.auth).toBeNull();
    expect(result.envelope.error).toMatchObject({
      code: 'AUTH_ERROR',
      message: expect.stringMatching(/NOPE/),
    });
  });
});
