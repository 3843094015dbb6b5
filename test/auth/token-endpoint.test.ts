/**
 * The token request is a partner call like any other: the destination policy, the response
 * size limit and the timeout apply (no Redis here: requestToken alone, real loopback servers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { credentialSchema, type OAuth2Credential } from '../../src/contract/credential.js';
import { createHttpClient } from '../../src/http/call.js';
import { requestToken } from '../../src/auth/token-endpoint.js';
import { InvokeError } from '../../src/contract/errors.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream((r, res) => {
    if (r.url === '/huge')
      return json(res, 200, { access_token: 'x'.repeat(5000), token_type: 'Bearer' });
    if (r.url === '/mac') return json(res, 200, { access_token: 'abc', token_type: 'mac' });
    if (r.url === '/dpop') return json(res, 200, { access_token: 'abc', token_type: 'DPoP' });
    if (r.url === '/html')
      return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    if (r.url === '/redirect') return void res.writeHead(302, { location: '/ok' }).end();
    return json(res, 200, { access_token: 'tok-ok', token_type: 'bearer', expires_in: '120' });
  });
});
afterAll(() => up.close());

const cred = (path: string) =>
  credentialSchema.parse({
    type: 'oauth2_client_credentials',
    hosts: ['x.com'],
    tokenUrl: `${up.url}${path}`,
    clientId: 'c',
    clientSecret: 'client-secret-value',
  }) as OAuth2Credential;
const opts = { timeoutMs: 2000, retryAfterMaxMs: 60_000 };
const allowed = createHttpClient(
  loadConfig({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32', INVOKE_MAX_RESPONSE_BYTES: '1000' }),
);

async function refusal(p: Promise<unknown>): Promise<InvokeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvokeError);
  return err as InvokeError;
}

describe('requestToken', () => {
  it('returns the token and expires_in (a numeric string is accepted, as the library does)', async () => {
    expect(await requestToken(allowed.send, cred('/ok'), opts)).toEqual({
      value: 'tok-ok',
      expiresInSeconds: 120,
    });
  });

  it('is refused by the destination policy like any call: a loopback token URL without INVOKE_ALLOW_PRIVATE', async () => {
    const strict = createHttpClient(loadConfig({}));
    const err = await refusal(requestToken(strict.send, cred('/ok'), opts));
    expect(err).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
    expect(err.detail).toMatch(/URL_BLOCKED/);
    strict.close();
  });

  it.each([
    ['/huge', /over INVOKE_MAX_RESPONSE_BYTES/],
    ['/mac', /without a usable access token/],
    ['/dpop', /type "dpop"; only bearer/],
    ['/html', /without a usable access token/],
    ['/redirect', /answered 302/],
  ])('%s: a permanent AUTH_ERROR that shows no secret', async (path, why) => {
    const err = await refusal(requestToken(allowed.send, cred(path), opts));
    expect(err).toMatchObject({ code: 'AUTH_ERROR', retryable: false });
    expect(err.detail).toMatch(why);
    expect(err.message + err.stack).not.toContain('client-secret-value');
  });
});
