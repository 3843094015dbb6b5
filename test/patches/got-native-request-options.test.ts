/**
 * The workaround for got's slow createNativeRequestOptions (src/patches/got-native-request-options.ts)
 * must hand http.request what got's own method does, less the keys whose value is undefined:
 * every defined key with the same value, on plain, HTTPS, unix-socket and cache-option
 * requests, and leave the Options as it found them.
 */
import http from 'node:http';
import https from 'node:https';
import { Options } from 'got';
import { describe, expect, it } from 'vitest';
import {
  gotCreateNativeRequestOptions,
  installFastNativeRequestOptions,
} from '../../src/patches/got-native-request-options.js';
import { createHttpClient } from '../../src/http/call.js';
import { loadConfig } from '../../src/config.js';

const agents = {
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true }),
};
const defaults = new Options({
  agent: agents,
  http2: false,
  retry: { limit: 0 },
  followRedirect: false,
  throwHttpErrors: false,
  timeout: { lookup: 1000, connect: 1000 },
});

const cases: Record<string, () => Options> = {
  'plain POST': () =>
    new Options(
      new URL('http://127.0.0.1:1234/x?a=1'),
      { method: 'POST', headers: { 'x-a': 'b' }, body: '{}' },
      defaults,
    ),
  'HTTPS with TLS options': () =>
    new Options(
      'https://api.example.com/v1',
      {
        https: {
          rejectUnauthorized: false,
          certificateAuthority: 'CA',
          serverName: 'sni.example.com',
          minVersion: 'TLSv1.2',
        },
        localAddress: '127.0.0.1',
        dnsLookupIpVersion: 4,
      },
      defaults,
    ),
  'unix socket': () =>
    new Options('http://unix:/tmp/some.sock:/path?q=1', { enableUnixSockets: true }, defaults),
  'cache options set': () =>
    new Options(
      'http://127.0.0.1/x',
      { cacheOptions: { shared: false, immutableMinTimeToLive: 5 } },
      defaults,
    ),
};

describe('fast createNativeRequestOptions', () => {
  installFastNativeRequestOptions();

  it('got still builds the options as the literal the patch works around (spread sources first)', () => {
    // If this fails, got changed createNativeRequestOptions: re-measure (docs/patches.md), and
    // update or drop the patch.
    const source = gotCreateNativeRequestOptions.toString();
    expect(source).toMatch(
      /return \{\s*\.\.\.internals\.cacheOptions,\s*\.\.\.this\._unixOptions,/,
    );
  });

  it('is installed on got.Options (and creating the HTTP client installs it)', () => {
    createHttpClient(loadConfig({})).close();
    expect(Options.prototype.createNativeRequestOptions).not.toBe(gotCreateNativeRequestOptions);
  });

  for (const [name, make] of Object.entries(cases)) {
    it(`returns what got's own method returns: ${name}`, () => {
      const options = make();
      const internals = (options as unknown as { _internals: { cacheOptions: object } })._internals;
      const cacheOptions = internals.cacheOptions;
      const unix = (options as unknown as { _unixOptions: unknown })._unixOptions;
      const ours = options.createNativeRequestOptions() as Record<string, unknown>;
      const gots = gotCreateNativeRequestOptions.call(options) as unknown as Record<
        string,
        unknown
      >;
      expect(Object.keys(ours)).toEqual(Object.keys(defined(gots)));
      expect(ours).toStrictEqual(defined(gots));
      // The point of it: got's undefined keys are not handed on (about 25 of 35 on a plain call).
      expect(Object.values(ours)).not.toContain(undefined);
      expect(Object.keys(ours).length).toBeLessThan(Object.keys(gots).length);
      expect(internals.cacheOptions).toBe(cacheOptions);
      expect((options as unknown as { _unixOptions: unknown })._unixOptions).toBe(unix);
    });
  }

  it("lets the literal's own properties win over the spread ones, as got's literal does", () => {
    // No key collides in got 14.6; a later got might add one (a cache option named like a request option).
    const options = cases['plain POST']!();
    (options as unknown as { _internals: { cacheOptions: object } })._internals.cacheOptions = {
      shared: true,
      method: 'FROM-CACHE',
    };
    const ours = options.createNativeRequestOptions() as Record<string, unknown>;
    expect(ours.method).toBe('POST');
    expect(ours).toStrictEqual(
      defined(gotCreateNativeRequestOptions.call(options) as unknown as Record<string, unknown>),
    );
  });

  it("lets the literal's undefined win over a spread value, as got's literal does", () => {
    const options = cases['plain POST']!();
    (options as unknown as { _internals: { cacheOptions: object } })._internals.cacheOptions = {
      shared: true,
      localAddress: '10.0.0.1',
    };
    const ours = options.createNativeRequestOptions() as Record<string, unknown>;
    expect(ours.localAddress).toBeUndefined();
    expect(
      (gotCreateNativeRequestOptions.call(options) as unknown as Record<string, unknown>)
        .localAddress,
    ).toBeUndefined();
  });

  it('copies own keys only, as a spread does (nothing inherited from a polluted Object.prototype)', () => {
    Object.defineProperty(Object.prototype, 'pollutedForTest', {
      value: 'x',
      enumerable: true,
      configurable: true,
      writable: true,
    });
    try {
      const ours = cases['plain POST']!().createNativeRequestOptions() as Record<string, unknown>;
      expect(Object.hasOwn(ours, 'pollutedForTest')).toBe(false);
    } finally {
      delete (Object.prototype as Record<string, unknown>).pollutedForTest;
    }
  });

  it('keeps the unix socket path and the cache options in the result', () => {
    const unix = cases['unix socket']!().createNativeRequestOptions() as Record<string, unknown>;
    expect(unix).toMatchObject({ socketPath: '/tmp/some.sock', path: '/path?q=1', host: '' });
    const cachedOptions = cases['cache options set']!();
    const cached = cachedOptions.createNativeRequestOptions() as Record<string, unknown>;
    expect(cached).toMatchObject({ shared: false, immutableMinTimeToLive: 5 });
    // Every cache option got hands on with a value is in ours (the undefined ones are left out).
    const gotsCached = defined(
      gotCreateNativeRequestOptions.call(cachedOptions) as unknown as Record<string, unknown>,
    );
    expect(Object.keys(cached)).toEqual(
      expect.arrayContaining(['shared', 'immutableMinTimeToLive', ...Object.keys(gotsCached)]),
    );
  });
});

/** got's result as http.request would see it after ours: the keys whose value is undefined left out. */
function defined(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
