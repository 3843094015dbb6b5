/**
 * Platform credentials from the environment (INVOKE_CREDENTIAL_<NAME>), HMAC signatures against
 * vectors computed here with node:crypto alone, and the token lifetime rule. Pure: no Redis.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { credentialSchema, type HmacCredential } from '../../src/contract/credential.js';
import { signatureHeaders, signingPayload } from '../../src/auth/hmac.js';
import { cacheTtlMs } from '../../src/auth/token-cache.js';
import { sealerFrom } from '../../src/auth/seal.js';
import { createCipher } from '../../src/vault/index.js';

const KEY = randomBytes(32).toString('base64');
const oauth2 = {
  type: 'oauth2_client_credentials',
  hosts: ['api.crm.example'],
  tokenUrl: 'https://auth.crm.example/oauth/token',
  clientId: 'cid',
  clientSecret: 's3cr3t-client-value',
};

describe('INVOKE_CREDENTIAL_<NAME>', () => {
  it('reads each kind with its defaults and the _TENANTS binding', () => {
    const cfg = loadConfig({
      INVOKE_SECRETS_KEY: KEY,
      INVOKE_CREDENTIAL_CRM: JSON.stringify(oauth2),
      INVOKE_CREDENTIAL_CRM_TENANTS: 'acme, globex',
      INVOKE_CREDENTIAL_ERP: JSON.stringify({
        type: 'basic',
        hosts: ['ERP.example.'],
        username: 'u',
        password: 'p',
      }),
      INVOKE_CREDENTIAL_HOOK: JSON.stringify({
        type: 'hmac',
        hosts: ['*.hooks.example'],
        secret: 'k',
        header: 'X-Signature',
      }),
    });
    expect([...cfg.credentials.keys()].sort()).toEqual(['CRM', 'ERP', 'HOOK']);
    expect(cfg.credentials.get('CRM')).toMatchObject({
      tenants: ['acme', 'globex'],
      credential: { clientAuth: 'basic' },
    });
    expect(cfg.credentials.get('ERP')?.credential.hosts).toEqual(['erp.example']);
    expect(cfg.credentials.get('HOOK')).toMatchObject({
      tenants: undefined,
      credential: { algorithm: 'sha256', encoding: 'hex', payload: '{{ timestamp }}.{{ body }}' },
    });
  });

  it.each([
    ['not JSON', '{type: basic', /must be a JSON object/],
    [
      'no hosts',
      JSON.stringify({ type: 'basic', hosts: [], username: 'u', password: 'p' }),
      /hosts: hosts must list at least one host/,
    ],
    [
      'a URL as host',
      JSON.stringify({ type: 'basic', hosts: ['https://x.com/'], username: 'u', password: 'p' }),
      /hosts\.0: must be a host name/,
    ],
    ['an unknown type', JSON.stringify({ type: 'apikey', hosts: ['x.com'] }), /type: /],
    ['an unknown field', JSON.stringify({ ...oauth2, clientSecrett: 'x' }), /Unrecognized key/],
    [
      'a plain-http token URL',
      JSON.stringify({ ...oauth2, tokenUrl: 'http://auth.crm.example/token' }),
      /tokenUrl: tokenUrl must be https/,
    ],
    [
      'a bad payload template',
      JSON.stringify({
        type: 'hmac',
        hosts: ['x.com'],
        secret: 'k',
        header: 'X-Sig',
        payload: '{{ timestamp }}.{{ bodyy }}',
      }),
      /payload: payload is not a valid template/,
    ],
    [
      'a tokenExpired rule that does not parse',
      JSON.stringify({ ...oauth2, tokenExpired: 'response.body.error ==' }),
      /tokenExpired: not a Liquid condition/,
    ],
    [
      'a colon in a username',
      JSON.stringify({ type: 'basic', hosts: ['x.com'], username: 'a:b', password: 'p' }),
      /username must not contain/,
    ],
  ])('%s stops start-up naming the variable and never echoing a value', (_what, value, why) => {
    let err: unknown;
    try {
      loadConfig({ INVOKE_SECRETS_KEY: KEY, INVOKE_CREDENTIAL_CRM: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(/^INVOKE_CREDENTIAL_CRM: /);
    expect(message).toMatch(why);
    expect(message).not.toContain('s3cr3t-client-value');
  });

  it('refuses an OAuth2 credential without INVOKE_SECRETS_KEY (tokens are only kept encrypted)', () => {
    expect(() => loadConfig({ INVOKE_CREDENTIAL_CRM: JSON.stringify(oauth2) })).toThrow(
      /^INVOKE_CREDENTIAL_CRM: .*needs INVOKE_SECRETS_KEY/,
    );
  });

  it('refuses a name request.auth.credential could never match', () => {
    expect(() =>
      loadConfig({ INVOKE_CREDENTIAL_crm: JSON.stringify(oauth2), INVOKE_SECRETS_KEY: KEY }),
    ).toThrow(/^INVOKE_CREDENTIAL_crm: credential names must match/);
  });
});

describe('HMAC signatures', () => {
  const cred = (over: Partial<HmacCredential> = {}) =>
    credentialSchema.parse({
      type: 'hmac',
      hosts: ['x.com'],
      secret: 'whsec-test-secret',
      header: 'X-Signature',
      ...over,
    }) as HmacCredential;
  const body = '{"name":"Zoë \\"Z\\" O\'Brien","emoji":"🚀"}';
  const url = new URL('https://x.com/hooks/orders?v=2');

  it('Stripe-style: hex HMAC-SHA256 over "<t>.<body bytes>"', () => {
    const expected = createHmac('sha256', 'whsec-test-secret')
      .update(Buffer.concat([Buffer.from('1700000000.'), Buffer.from(body, 'utf8')]))
      .digest('hex');
    expect(
      signatureHeaders(cred({ timestampHeader: 'X-Timestamp' }), {
        method: 'POST',
        url,
        body,
        timestamp: 1700000000,
      }),
    ).toEqual({ 'x-signature': expected, 'x-timestamp': '1700000000' });
  });

  it('Standard Webhooks: base64 HMAC-SHA256 over "<id>.<t>.<body>" with the id in the template', () => {
    const c = cred({
      payload: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.{{ timestamp }}.{{ body }}',
      encoding: 'base64',
      header: 'webhook-signature',
    });
    const expected = createHmac('sha256', 'whsec-test-secret')
      .update(`msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1614265330.${body}`)
      .digest('base64');
    expect(
      signatureHeaders(c, { method: 'POST', url, body, timestamp: 1614265330 })[
        'webhook-signature'
      ],
    ).toBe(expected);
  });

  it('sha512 over method, path with query, and an empty body', () => {
    const c = cred({
      algorithm: 'sha512',
      payload: '{{ method }} {{ path }} {{ timestamp }} {{ body }}',
    });
    expect(signingPayload(c, { method: 'GET', url, body: undefined, timestamp: 5 })).toBe(
      'GET /hooks/orders?v=2 5 ',
    );
    const expected = createHmac('sha512', 'whsec-test-secret')
      .update('GET /hooks/orders?v=2 5 ')
      .digest('hex');
    expect(
      signatureHeaders(c, { method: 'GET', url, body: undefined, timestamp: 5 })['x-signature'],
    ).toBe(expected);
  });

  it('never HTML-escapes or trims the body it signs', () => {
    const raw = '  <a href="x">&amp;</a>\n';
    expect(
      signingPayload(cred({ payload: '{{ body }}' }), {
        method: 'POST',
        url,
        body: raw,
        timestamp: 1,
      }),
    ).toBe(raw);
  });
});

describe('token lifetime and sealing', () => {
  it('keeps a token until shortly before expires_in (10 %, at most a minute), else the default', () => {
    expect(cacheTtlMs(3600, 300)).toBe(3_540_000);
    expect(cacheTtlMs(30, 300)).toBe(27_000);
    expect(cacheTtlMs(undefined, 300)).toBe(300_000);
    expect(cacheTtlMs(0, 300)).toBe(0);
  });

  const createSealer = (key: string, old: string[] = []) =>
    sealerFrom(
      createCipher({
        current: Buffer.from(key, 'base64'),
        old: old.map((k) => Buffer.from(k, 'base64')),
      }),
    );
  it('opens only with the same key and key name, and with an old key during a rotation', () => {
    const next = randomBytes(32).toString('base64');
    const sealed = createSealer(KEY).seal('tok-abc', 'k1');
    expect(sealed).not.toContain('tok-abc');
    expect(createSealer(KEY).open(sealed, 'k1')).toBe('tok-abc');
    expect(createSealer(KEY).open(sealed, 'k2')).toBeUndefined();
    expect(createSealer(next).open(sealed, 'k1')).toBeUndefined();
    expect(createSealer(next, [KEY]).open(sealed, 'k1')).toBe('tok-abc');
  });
});

describe('token metrics', () => {
  it('count token requests per credential and outcome, with bounded labels', async () => {
    const { Registry } = await import('prom-client');
    const { registerAuthMetrics } = await import('../../src/auth/metrics.js');
    const registry = new Registry();
    const observe = registerAuthMetrics(registry);
    observe({ scope: 'platform:CRM', outcome: 'issued' });
    observe({ scope: 'platform:CRM', outcome: 'issued' });
    observe({ scope: 'tenant:acme:ERP', outcome: 'refused' });
    const text = await registry.metrics();
    expect(text).toContain(
      'invoke_auth_token_requests_total{credential="platform:CRM",outcome="issued"} 2',
    );
    expect(text).toContain(
      'invoke_auth_token_requests_total{credential="tenant:acme:ERP",outcome="refused"} 1',
    );
  });
});
