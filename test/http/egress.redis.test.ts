/**
 * Issue 3 through the real worker: blocked destinations are never connected to and never
 * retried, redirects follow the contract (section 1), bound secrets stay with their hosts.
 * Only loopback is ever connected to: 127.0.0.1 is allowed (INVOKE_ALLOW_PRIVATE=127.0.0.1/32),
 * 127.0.0.2 stands for every denied address and counts the connections it gets (non-loopback
 * addresses such as 169.254.169.254 are tested in egress.test.ts without connecting: a
 * regression here must not send a packet off the machine).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { dumpNamespace } from '../helpers/redis.js';
import { countingServer, runJob, type CountingServer } from './loopback.js';

const SECRET = 'pk_live_BOUND_secret_value_42';
let h: Harness;
let a: Upstream; // allowed origin
let b: Upstream; // another allowed origin (127.0.0.1, other port)
let denied: CountingServer; // 127.0.0.2: outside INVOKE_ALLOW_PRIVATE

beforeAll(async () => {
  [a, b, denied] = await Promise.all([
    startUpstream(),
    startUpstream(),
    countingServer('127.0.0.2'),
  ]);
  h = await startHarness({
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRET_PARTNER_KEY: SECRET,
    INVOKE_SECRET_PARTNER_KEY_HOSTS: 'api.partner.example',
  });
});
afterAll(async () => {
  await h.close();
  await Promise.all([a.close(), b.close(), denied.close()]);
});

const redirectTo =
  (location: string, status = 302) =>
  (_r: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(status, { location });
    res.end();
  };

describe('blocked destinations', () => {
  it.each([
    ['127.0.0.2', () => `${denied.url}/x`],
    ['127.0.0.2 as a decimal number', () => `http://2130706434:${denied.port}/x`],
    ['[::1]', () => `http://[::1]:${denied.port}/x`],
    ['[::ffff:127.0.0.2]', () => `http://[::ffff:127.0.0.2]:${denied.port}/x`],
  ])('%s ends URL_BLOCKED after one attempt, with no connection', async (_name, url) => {
    const env = await runJob(h, { request: { url: url() } }, { attempts: 3 });
    expect(env).toMatchObject({
      ok: false,
      status: null,
      attempts: 1,
      error: { code: 'URL_BLOCKED', retryable: false },
    });
    expect(denied.connections).toBe(0);
  });

  it('lets the allowed loopback address through (the harness is not blocking everything)', async () => {
    a.handle((_r, res) => json(res, 200, { hi: 1 }));
    const env = await runJob(h, { request: { url: `${a.url}/ok` } }, { expect: 'completed' });
    expect(env).toMatchObject({ ok: true, status: 200, body: { hi: 1 } });
  });

  it('refuses a redirect from an allowed server to a denied address, and never connects to it', async () => {
    a.handle(redirectTo(`${denied.url}/internal`));
    const env = await runJob(h, { request: { url: `${a.url}/go`, followRedirects: true } });
    expect(env.error).toMatchObject({
      code: 'URL_BLOCKED',
      message: expect.stringContaining('127.0.0.2'),
    });
    expect(env.attempts).toBe(1);
    expect(denied.connections).toBe(0);
  });

  it('refuses a redirect to another scheme', async () => {
    a.handle(redirectTo('file:///etc/passwd'));
    const env = await runJob(h, { request: { url: `${a.url}/go`, followRedirects: true } });
    expect(env.error).toMatchObject({
      code: 'URL_BLOCKED',
      message: expect.stringContaining('scheme file'),
    });
  });
});

describe('redirects', () => {
  it('are not followed by default: the 302 is the result (HTTP_STATUS, not retried)', async () => {
    a.handle(redirectTo(`${b.url}/elsewhere`));
    const before = b.requests.length;
    const env = await runJob(h, { request: { url: `${a.url}/r` } });
    expect(env).toMatchObject({
      ok: false,
      status: 302,
      attempts: 1,
      headers: { location: `${b.url}/elsewhere` },
      error: { code: 'HTTP_STATUS', retryable: false },
    });
    expect(b.requests.length).toBe(before);
  });

  it('a cross-origin 307 of a POST is not followed, even with followRedirects', async () => {
    a.handle(redirectTo(`${b.url}/steal`, 307));
    const before = b.requests.length;
    const env = await runJob(h, {
      request: {
        method: 'POST',
        url: `${a.url}/p`,
        body: { card: '4111' },
        headers: { 'X-Api-Key': 'k1' },
        followRedirects: true,
      },
    });
    expect(env).toMatchObject({ status: 307, error: { code: 'HTTP_STATUS' } });
    expect(b.requests.length).toBe(before);
  });

  it('a GET followed to another origin (same IP, other port) carries no step-supplied header', async () => {
    a.handle(redirectTo(`${b.url}/landing`));
    b.handle((_r, res) => json(res, 200, { landed: true }));
    const headers = {
      'X-Api-Key': 'k-123',
      Authorization: 'Bearer t-456',
      Cookie: 'sid=1',
      'X-Custom': 'c',
      'User-Agent': 'step-agent/1',
    };
    const env = await runJob(
      h,
      { request: { url: `${a.url}/start`, headers, followRedirects: true } },
      { expect: 'completed' },
    );
    expect(env).toMatchObject({ ok: true, status: 200, body: { landed: true } });
    expect(a.requests.at(-1)!.headers).toMatchObject({
      'x-api-key': 'k-123',
      authorization: 'Bearer t-456',
    });
    const got = b.requests.at(-1)!;
    expect(got.url).toBe('/landing');
    for (const name of ['x-api-key', 'authorization', 'cookie', 'x-custom'])
      expect(got.headers[name], name).toBeUndefined();
    expect(got.headers['user-agent']).toBe(h.cfg.INVOKE_USER_AGENT);
  });

  it('follows a Location longer than the 1 KiB kept in the envelope (signed URLs), and never a 300/304', async () => {
    const long = `/signed?sig=${'s'.repeat(2000)}`;
    a.handle((r, res) =>
      r.url === '/long'
        ? redirectTo(long, 307)(r, res)
        : r.url === '/multi'
          ? redirectTo('/landed', 300)(r, res)
          : json(res, 200, { len: r.url.length }),
    );
    const env = await runJob(
      h,
      { request: { url: `${a.url}/long`, followRedirects: true } },
      { expect: 'completed' },
    );
    expect(env.body).toEqual({ len: long.length });
    const multi = await runJob(h, { request: { url: `${a.url}/multi`, followRedirects: true } });
    expect(multi).toMatchObject({ status: 300, error: { code: 'HTTP_STATUS' } });
  });

  it('a same-origin redirect keeps the step headers', async () => {
    a.handle((r, res) =>
      r.url === '/one' ? redirectTo('/two')(r, res) : json(res, 200, { at: r.url }),
    );
    const env = await runJob(
      h,
      { request: { url: `${a.url}/one`, headers: { 'X-Api-Key': 'same' }, followRedirects: true } },
      { expect: 'completed' },
    );
    expect(env.body).toEqual({ at: '/two' });
    expect(a.requests.at(-1)!.headers['x-api-key']).toBe('same');
  });

  it('a 3xx loop stops after 5 hops with the last 3xx as the result', async () => {
    a.handle((r, res) => redirectTo(`${r.url}x`)(r, res));
    const before = a.requests.length;
    const env = await runJob(h, { request: { url: `${a.url}/loop`, followRedirects: true } });
    expect(env).toMatchObject({ status: 302, attempts: 1, error: { code: 'HTTP_STATUS' } });
    expect(a.requests.length - before).toBe(6); // the request and 5 redirects
    expect(a.requests.at(-1)!.url).toBe('/loopxxxxx');
  });
});

describe('secrets bound to hosts (INVOKE_SECRET_<NAME>_HOSTS)', () => {
  it('refuses a bound secret sent elsewhere: URL_BLOCKED naming the secret, the value nowhere', async () => {
    const before = a.requests.length;
    const env = await runJob(h, {
      request: {
        url: `${a.url}/collect?k={{ secrets.PARTNER_KEY }}`,
        headers: { 'X-Api-Key': '{{ secrets.PARTNER_KEY }}' },
      },
    });
    expect(env).toMatchObject({
      attempts: 1,
      error: {
        code: 'URL_BLOCKED',
        message: expect.stringContaining(
          'secret PARTNER_KEY may only be sent to api.partner.example',
        ),
      },
    });
    expect(a.requests.length).toBe(before);
    expect(await dumpNamespace(h.redis, h.ns)).not.toContain(SECRET);
    expect(h.logs.join('\n')).not.toContain(SECRET);
  });
});
