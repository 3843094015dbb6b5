/** INVOKE_DESTINATIONS parsing and host matching: pure, no Redis. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import {
  BREAKER_DEFAULTS,
  isUnlimited,
  loadDestinationPolicy,
} from '../../src/destinations/policy.js';
import { classify } from '../../src/destinations/decisions.js';

const load = (v: unknown) => loadDestinationPolicy(typeof v === 'string' ? v : JSON.stringify(v));

describe('destination policy', () => {
  it("defaults to no limits and a breaker with Convoy's thresholds on every host, 1 h deadline", () => {
    const p = load('');
    expect(p.deadlineMs).toBe(3_600_000);
    expect(p.resolve('api.example.com')).toEqual({
      ratePerSecond: 0,
      burst: 1,
      maxConcurrent: 0,
      breaker: BREAKER_DEFAULTS,
      matched: 'default',
    });
    expect(BREAKER_DEFAULTS).toMatchObject({
      failureRatio: 0.7,
      minCalls: 10,
      windowMs: 300_000,
      openMs: 30_000,
    });
  });

  it('matches host:port, then the host, then the longest glob, then default; fields override default', () => {
    const p = load({
      default: { maxConcurrent: 50, breaker: { openMs: 60_000 } },
      hosts: {
        'api.partner.com': { ratePerSecond: 20 },
        '127.0.0.1:9000': { ratePerSecond: 5, breaker: false },
        '*.partner.com': { ratePerSecond: 100 },
        '*.eu.partner.com': { ratePerSecond: 7, breaker: { consecutiveFailures: 3 } },
      },
    });
    expect(p.resolve('API.partner.com')).toMatchObject({
      ratePerSecond: 20,
      maxConcurrent: 50,
      matched: 'api.partner.com',
      breaker: { openMs: 60_000, failureRatio: 0.7 },
    });
    expect(p.resolve('api.partner.com:8443')).toMatchObject({
      ratePerSecond: 20,
      matched: 'api.partner.com',
    });
    expect(p.resolve('127.0.0.1:9000')).toMatchObject({ ratePerSecond: 5, breaker: false });
    expect(p.resolve('127.0.0.1:9001')).toMatchObject({ ratePerSecond: 0, matched: 'default' });
    expect(p.resolve('x.eu.partner.com')).toMatchObject({
      ratePerSecond: 7,
      matched: '*.eu.partner.com',
      breaker: { consecutiveFailures: 3, openMs: 60_000 },
    });
    expect(p.resolve('b.partner.com')).toMatchObject({
      ratePerSecond: 100,
      matched: '*.partner.com',
    });
    expect(p.resolve('partner.com')).toMatchObject({ matched: 'default' });
  });

  it('is unlimited (no Redis at all) only with no limits and the breaker off', () => {
    const p = load({ default: { breaker: false }, hosts: { 'a.com': { maxConcurrent: 1 } } });
    expect(isUnlimited(p.resolve('b.com'))).toBe(true);
    expect(isUnlimited(p.resolve('a.com'))).toBe(false);
  });

  it('reads a JSON file when given a path', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dest-')), 'destinations.json');
    writeFileSync(
      file,
      JSON.stringify({ hosts: { 'a.com': { ratePerSecond: 3 } }, deadlineMs: 5000 }),
    );
    const p = load(file);
    expect(p.deadlineMs).toBe(5000);
    expect(p.resolve('a.com').ratePerSecond).toBe(3);
  });

  it.each([
    [
      { hosts: { 'api.partner.com': { ratePerSecond: -1 } } },
      /INVOKE_DESTINATIONS: hosts\["api\.partner\.com"\]\.ratePerSecond: /,
    ],
    [{ default: { maxConcurrent: 1.5 } }, /INVOKE_DESTINATIONS: default\.maxConcurrent: /],
    [{ default: { breaker: { failureRatio: 2 } } }, /default\.breaker\.failureRatio: /],
    [{ hosts: { 'API.com': {} } }, /hosts\["API\.com"\]: must be a lower-case host/],
    [{ default: { rate: 5 } }, /default: .*rate/],
    [{ deadlineMs: 'soon' }, /deadlineMs: /],
    ['{not json', /INVOKE_DESTINATIONS: cannot read JSON/],
    [
      '/nonexistent/destinations.json',
      /INVOKE_DESTINATIONS: cannot read file \/nonexistent\/destinations\.json/,
    ],
  ])('rejects %j naming the field', (input, message) => {
    expect(() => load(input)).toThrow(ConfigError);
    expect(() => load(input)).toThrow(message);
  });
});

describe('what a call says about the host', () => {
  it.each([
    [{ status: 200, errorCode: undefined }, 'ok'],
    [{ status: 404, errorCode: 'HTTP_STATUS' }, 'ok'],
    [{ status: 503, errorCode: 'HTTP_STATUS' }, 'fail'],
    [{ status: 408, errorCode: 'HTTP_STATUS' }, 'fail'],
    [{ status: null, errorCode: 'TIMEOUT' }, 'fail'],
    [{ status: null, errorCode: 'CONNECT_ERROR' }, 'fail'],
    [{ status: 429, errorCode: 'HTTP_STATUS' }, 'neutral'],
    [{ status: null, errorCode: 'DNS_ERROR' }, 'neutral'],
  ] as const)('%j is %s', (info, kind) => {
    expect(classify(info)).toBe(kind);
  });
});
