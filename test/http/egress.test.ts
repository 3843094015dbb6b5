/**
 * Issue 3, the destination policy on its own: pure, no network, no DNS. Every URL below is
 * checked the way send() checks it before connecting (checkUrl), and every address the way
 * the guarded agents check it at connect time (addressGuard, guardedLookup).
 */
import { readFileSync } from 'node:fs';
import type dns from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  addressGuard,
  checkSecretBindings,
  checkUrl,
  createEgressPolicy,
  hostMatches,
  type EgressPolicy,
} from '../../src/http/egress.js';
import { guardedLookup } from '../../src/http/guarded-agent.js';
import { InvokeError } from '../../src/contract/errors.js';
import { loadConfig } from '../../src/config.js';

const policyFrom = (env: Record<string, string> = {}) => createEgressPolicy(loadConfig(env));
const strict = policyFrom();

/** The URL_BLOCKED message for a URL, or 'pass'. */
function verdict(policy: EgressPolicy, raw: string): string {
  try {
    const url = new URL(raw);
    checkUrl(policy, url);
    return 'pass';
  } catch (err) {
    if (!(err instanceof InvokeError)) throw err;
    expect(err.code).toBe('URL_BLOCKED');
    expect(err.retryable).toBe(false);
    return err.message;
  }
}

/** [url, words the refusal must contain]. Alternate spellings are normalised by WHATWG URL first. */
const BLOCKED: [string, string][] = [
  // IPv4 loopback in every spelling
  ['http://127.0.0.1/', 'loopback'],
  ['http://127.0.0.2:8080/x', 'loopback'],
  ['http://127.255.255.254/', 'loopback'],
  ['http://2130706433/', 'loopback'], // decimal
  ['http://0x7f000001/', 'loopback'], // hex
  ['http://0x7f.0x0.0x0.0x1/', 'loopback'], // dotted hex
  ['http://0177.0.0.1/', 'loopback'], // octal
  ['http://017700000001/', 'loopback'], // octal, one number
  ['http://127.1/', 'loopback'], // short
  ['http://127.0.1/', 'loopback'], // short, three parts
  ['http://127.0.0.1./', 'loopback'], // trailing dot
  ['https://0x7f.1/', 'loopback'],
  // unspecified 0.0.0.0/8
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://0.1.2.3/', 'unspecified'],
  // RFC 1918, CGNAT, link-local and cloud metadata
  ['http://10.0.0.1/', 'private'],
  ['http://172.16.0.1/', 'private'],
  ['http://172.31.255.255/', 'private'],
  ['http://192.168.1.1/', 'private'],
  ['http://100.64.0.1/', 'carrierGradeNat'],
  ['http://100.100.100.200/latest/meta-data', 'carrierGradeNat'], // Alibaba metadata
  ['http://169.254.169.254/latest/meta-data/', 'linkLocal'], // AWS/GCP/Azure metadata
  ['http://169.254.0.1/', 'linkLocal'],
  ['http://192.0.0.192/opc/v1/instance/', 'reserved'], // Oracle metadata, 192.0.0/24
  // documentation, benchmark, reserved, broadcast, multicast
  ['http://192.0.2.1/', 'reserved'],
  ['http://198.51.100.7/', 'reserved'],
  ['http://203.0.113.9/', 'reserved'],
  ['http://198.18.0.1/', 'reserved'],
  ['http://198.19.255.1/', 'reserved'],
  ['http://240.0.0.1/', 'reserved'],
  ['http://255.255.255.255/', 'broadcast'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://239.255.255.250:1900/', 'multicast'],
  // IPv6 loopback, unspecified, ULA, link-local, site-local, multicast
  ['http://[::1]/', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]:8080/', 'loopback'],
  ['http://[::]/', 'unspecified'],
  ['http://[fc00::1]/', 'uniqueLocal'],
  ['http://[fd00:ec2::254]/latest/meta-data/', 'uniqueLocal'], // AWS metadata over IPv6
  ['http://[fe80::1]/', 'linkLocal'],
  ['http://[febf:ffff::1]/', 'linkLocal'],
  ['http://[fec0::1]/', 'deprecatedSiteLocal'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://[ff05::1:3]/', 'multicast'],
  // IPv4 inside IPv6: mapped, compatible, translated, NAT64, 6to4, Teredo
  ['http://[::ffff:127.0.0.1]/', 'loopback'],
  ['http://[::ffff:7f00:1]/', 'loopback'],
  ['http://[::ffff:169.254.169.254]/', 'linkLocal'],
  ['http://[::ffff:10.0.0.1]/', 'private'],
  ['http://[::127.0.0.1]/', 'ipv4Compatible'],
  ['http://[::7f00:1]/', 'ipv4Compatible'],
  ['http://[::8.8.8.8]/', 'ipv4Compatible'],
  ['http://[::ffff:0:127.0.0.1]/', 'rfc6145'],
  ['http://[64:ff9b::127.0.0.1]/', 'rfc6052'],
  ['http://[64:ff9b::a9fe:a9fe]/', 'rfc6052'],
  ['http://[64:ff9b:1::7f00:1]/', 'rfc6052'],
  ['http://[2002:7f00:1::]/', '6to4'],
  ['http://[2002:a9fe:a9fe::1]/', '6to4'],
  ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'teredo'],
  // reserved / documentation / special IPv6 blocks
  ['http://[2001:db8::1]/', 'reserved'],
  ['http://[3fff::1]/', 'reserved'],
  ['http://[5f00::1]/', 'segmentRouting'],
  ['http://[100::1]/', 'discard'],
  ['http://[2001:2::1]/', 'benchmarking'],
  ['http://[4000::1]/', 'non-global'],
  ['http://[e000::1]/', 'non-global'],
  // schemes, credentials, UNIX sockets
  ['file:///etc/passwd', 'scheme file'],
  ['ftp://example.com/x', 'scheme ftp'],
  ['gopher://example.com:70/_GET', 'scheme gopher'],
  ['ws://example.com/', 'scheme ws'],
  ['data:text/plain,hi', 'scheme data'],
  ['https://user:pass@example.com/', 'credentials'],
  ['https://user@example.com/', 'credentials'],
  ['http://unix:/var/run/docker.sock:/containers/json', 'UNIX socket'],
];

describe('URLs that must be blocked', () => {
  it(`has at least 40 entries (${BLOCKED.length})`, () =>
    expect(BLOCKED.length).toBeGreaterThanOrEqual(40));
  it.each(BLOCKED)('%s is refused (%s)', (url, words) => {
    expect(verdict(strict, url)).toMatch(new RegExp(`^URL_BLOCKED: .*${words}`));
  });

  it('refuses denied ports from INVOKE_DENY_PORTS, including the scheme default', () => {
    const p = policyFrom({ INVOKE_DENY_PORTS: '25,6379,80' });
    expect(verdict(p, 'https://example.com:6379/')).toMatch(/port 6379 is not allowed/);
    expect(verdict(p, 'http://example.com:25/')).toMatch(/port 25/);
    expect(verdict(p, 'http://example.com/')).toMatch(/port 80/);
    expect(verdict(p, 'https://example.com/')).toBe('pass');
  });

  it('refuses hosts outside INVOKE_ALLOW_HOSTS when it is set', () => {
    const p = policyFrom({ INVOKE_ALLOW_HOSTS: '*.partner.com,api.example.com' });
    for (const url of [
      'https://partner.com/',
      'https://evilpartner.com/',
      'https://partner.com.evil.io/',
      'https://example.com/',
      'https://8.8.8.8/',
    ]) {
      expect(verdict(p, url), url).toMatch(/not in INVOKE_ALLOW_HOSTS/);
    }
  });

  it('does not let INVOKE_ALLOW_PRIVATE for one address open its neighbours', () => {
    const p = policyFrom({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32,10.1.0.0/16' });
    for (const url of [
      'http://127.0.0.2/',
      'http://10.2.0.1/',
      'http://[::1]/',
      'http://169.254.169.254/',
    ])
      expect(verdict(p, url), url).not.toBe('pass');
  });
});

/** [url, env]: public destinations, and private ones exempted on purpose. */
const ALLOWED: [string, Record<string, string>][] = [
  ['https://example.com/', {}],
  ['https://api.partner.com:8443/v1?x=1', {}],
  ['http://8.8.8.8/', {}],
  ['http://1.1.1.1:8080/', {}],
  ['http://93.184.215.14/', {}],
  ['http://172.32.0.1/', {}], // just outside 172.16/12
  ['http://100.128.0.1/', {}], // just outside 100.64/10
  ['http://[2606:4700:4700::1111]/', {}],
  ['http://[2001:4860:4860::8888]/', {}],
  ['http://[::ffff:8.8.8.8]/', {}], // mapped public IPv4 is judged by the IPv4 inside
  ['http://127.0.0.1:3000/', { INVOKE_ALLOW_PRIVATE: '127.0.0.1/32' }],
  ['http://2130706433:3000/', { INVOKE_ALLOW_PRIVATE: '127.0.0.1' }],
  ['http://10.1.2.3/', { INVOKE_ALLOW_PRIVATE: '10.1.0.0/16' }],
  ['http://[fd12::5]/', { INVOKE_ALLOW_PRIVATE: 'fd12::/16' }],
  ['http://[::ffff:127.0.0.1]/', { INVOKE_ALLOW_PRIVATE: '127.0.0.1/32' }],
  ['https://api.partner.com/', { INVOKE_ALLOW_HOSTS: '*.partner.com' }],
  ['https://EU.API.Partner.com./', { INVOKE_ALLOW_HOSTS: '*.partner.com' }],
  ['https://api.example.com/', { INVOKE_ALLOW_HOSTS: '*.partner.com, api.example.com' }],
  ['https://example.com:6380/', { INVOKE_DENY_PORTS: '6379' }],
];

describe('URLs that must pass', () => {
  it.each(ALLOWED)('%s passes with %j', (url, env) =>
    expect(verdict(policyFrom(env), url)).toBe('pass'),
  );
});

describe('policy configuration', () => {
  it.each([
    ['INVOKE_ALLOW_PRIVATE', '10.0.0.0/33'],
    ['INVOKE_ALLOW_PRIVATE', 'not a host/8'],
    ['INVOKE_ALLOW_PRIVATE', 'http://billing.internal'],
    ['INVOKE_ALLOW_HOSTS', 'https://api.partner.com'],
    ['INVOKE_ALLOW_HOSTS', 'api.partner.com:443'],
    ['INVOKE_ALLOW_HOSTS', 'api.*.com'],
  ])('%s=%s stops the start with a message naming the variable', (name, value) => {
    expect(() => policyFrom({ [name]: value })).toThrow(new RegExp(`^${name}: "`));
  });

  it('accepts addresses in INVOKE_ALLOW_HOSTS in URL form', () => {
    const p = policyFrom({ INVOKE_ALLOW_HOSTS: '2606:4700::1111, 8.8.8.8' });
    expect(verdict(p, 'http://[2606:4700:0::1111]/')).toBe('pass');
    expect(verdict(p, 'http://8.8.8.8/')).toBe('pass');
    expect(verdict(p, 'http://1.1.1.1/')).toMatch(/INVOKE_ALLOW_HOSTS/);
  });
});

describe('the connect-time address check (addressGuard)', () => {
  const DENIED = [
    '127.0.0.1',
    '127.0.0.2',
    '10.0.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1%eth0',
    'fd00::1',
    '::ffff:7f00:1',
    '::7f00:1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
    '4000::1',
  ];
  it.each(DENIED)('refuses %s', (address) =>
    expect(addressGuard(strict)(address, 'h.example')).toBeDefined(),
  );
  it.each(['8.8.8.8', '2606:4700::1111', '::ffff:1.1.1.1'])('lets %s through', (address) =>
    expect(addressGuard(strict)(address, 'h.example')).toBeUndefined(),
  );

  it('exempts a CIDR of INVOKE_ALLOW_PRIVATE and a host named in it, not other hosts', () => {
    const guard = addressGuard(
      policyFrom({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32, billing.internal, *.svc.cluster.local' }),
    );
    expect(guard('127.0.0.1', 'anything.example')).toBeUndefined();
    expect(guard('127.0.0.2', 'anything.example')).toMatch(/loopback/);
    expect(guard('10.9.8.7', 'billing.internal')).toBeUndefined();
    expect(guard('10.9.8.7', 'crm.svc.cluster.local')).toBeUndefined();
    expect(guard('10.9.8.7', 'billing.internal.evil.com')).toMatch(/private/);
  });
});

describe("guardedLookup: the agents' wrapper around DNS", () => {
  const fakeDns = (answers: dns.LookupAddress[]) =>
    ((
      _h: string,
      opts: dns.LookupOptions,
      cb: (e: Error | null, a: unknown, f?: number) => void,
    ) =>
      opts.all
        ? cb(null, answers)
        : cb(null, answers[0]!.address, answers[0]!.family)) as unknown as typeof dns.lookup;
  const resolve = (answers: dns.LookupAddress[], all: boolean) =>
    new Promise<unknown>((done) => {
      const lookup = guardedLookup(addressGuard(strict), fakeDns(answers)) as unknown as (
        h: string,
        o: dns.LookupOptions,
        cb: (e: Error | null, a?: unknown) => void,
      ) => void;
      lookup('rebind.example', { all }, (err, address) => done(err ?? address));
    });

  it('refuses a name resolving to 127.0.0.2, naming the host', async () => {
    const err = (await resolve([{ address: '127.0.0.2', family: 4 }], false)) as Error & {
      code: string;
    };
    expect(err.code).toBe('ERR_INVOKE_URL_BLOCKED');
    expect(err.message).toBe('rebind.example resolves to a loopback address');
  });

  it('refuses a name with any denied answer among public ones (all: true, as happy eyeballs asks)', async () => {
    const err = (await resolve(
      [
        { address: '8.8.8.8', family: 4 },
        { address: '::1', family: 6 },
      ],
      true,
    )) as Error;
    expect(err.message).toMatch(/loopback/);
  });

  it('passes public answers through unchanged', async () => {
    expect(await resolve([{ address: '8.8.8.8', family: 4 }], false)).toBe('8.8.8.8');
    expect(
      await resolve(
        [
          { address: '8.8.8.8', family: 4 },
          { address: '2001:4860:4860::8888', family: 6 },
        ],
        true,
      ),
    ).toHaveLength(2);
  });
});

describe('host globs and secret bindings', () => {
  it.each([
    ['*.partner.com', 'api.partner.com', true],
    ['*.partner.com', 'a.b.partner.com', true],
    ['*.partner.com', 'partner.com', false],
    ['*.partner.com', 'evilpartner.com', false],
    ['api.partner.com', 'API.partner.com.', true],
    ['api.partner.com', 'api.partner.com.evil.io', false],
  ] as const)('%s vs %s -> %s', (glob, host, expected) =>
    expect(hostMatches(glob, host)).toBe(expected),
  );

  it('refuses a bound secret sent to another host, naming the secret and never its value', () => {
    const cfg = loadConfig({
      INVOKE_SECRET_CRM_KEY: 'sk_live_never_show',
      INVOKE_SECRET_CRM_KEY_HOSTS: 'api.crm.com',
    });
    expect(() =>
      checkSecretBindings(cfg.secrets, ['CRM_KEY'], new URL('https://api.crm.com/x')),
    ).not.toThrow();
    let caught: unknown;
    try {
      checkSecretBindings(cfg.secrets, ['CRM_KEY'], new URL('https://attacker.example/x'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvokeError);
    expect((caught as InvokeError).code).toBe('URL_BLOCKED');
    expect((caught as InvokeError).message).toContain(
      'secret CRM_KEY may only be sent to api.crm.com',
    );
    expect(JSON.stringify(caught) + String((caught as Error).stack)).not.toContain(
      'sk_live_never_show',
    );
  });
});

it('uses ipaddr.js >= 2.4 (knows fec0::/10, 64:ff9b:1::/48, 3fff::/20, 5f00::/16)', () => {
  const lock = JSON.parse(
    readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8'),
  );
  const [major, minor] = String(lock.packages['node_modules/ipaddr.js'].version)
    .split('.')
    .map(Number);
  expect(major! > 2 || (major === 2 && minor! >= 4)).toBe(true);
});
