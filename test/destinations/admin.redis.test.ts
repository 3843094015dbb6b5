/** Operator surfaces over the shared destination state: the breaker CLI command and the gauges. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDestinationMetrics } from '../../src/destinations/metrics.js';
import { hostStatus, openBreaker } from '../../src/destinations/admin.js';
import { hostKeys } from '../../src/destinations/store.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { parseOpsEntry } from '../../src/ops-events/index.js';

const run = promisify(execFile);
const ns = namespace('dest-admin');
const redis = redisClient();
const cli = (...args: string[]) =>
  run(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/breaker-cli.mjs', import.meta.url)), 'breaker', ...args],
    { env: { ...process.env, ...ns.env } },
  ).catch((err: { code: number; stdout: string; stderr: string }) => err);

afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('invoke-api breaker', () => {
  it("opens, lists and closes a host's breaker, and names a bad argument", async () => {
    const opened = await cli('open', 'API.Partner.com', '--for', '600');
    expect(opened.stdout).toMatch(/breaker for api\.partner\.com is open until 20\d\d-/);
    expect((await cli('list')).stdout).toMatch(
      /^HOST\s+BREAKER[\s\S]*api\.partner\.com\s+open \(manual\)/,
    );
    expect((await cli('close', 'api.partner.com')).stdout).toContain(
      'breaker for api.partner.com is closed',
    );
    expect((await hostStatus(redis, ns.prefix, 'api.partner.com', 0)).breaker).toBe('closed');
    // Told to the operations stream like a worker's transition, marked as the operator's.
    const told = (await redis.xrange(ns.env.INVOKE_OPS_STREAM!, '-', '+')).map(([, f]) =>
      parseOpsEntry('', f),
    );
    expect(told.map((e) => [e.type, e.subject, e.facts.by])).toEqual([
      ['breaker.opened', 'api.partner.com', 'operator'],
      ['breaker.closed', 'api.partner.com', 'operator'],
    ]);
    expect(told[0]!.facts.openMs).toBe(600_000);
    // Closing a closed breaker tells nobody anything.
    await cli('close', 'api.partner.com');
    expect(await redis.xlen(ns.env.INVOKE_OPS_STREAM!)).toBe(2);
    // A Retry-After pause lifted by hand ends with host.resumed (the breaker was closed).
    await redis.hset(hostKeys(ns.prefix, 'paused.example')[0], 'pause', Date.now() + 600_000);
    await cli('close', 'paused.example');
    const last = (await redis.xrevrange(ns.env.INVOKE_OPS_STREAM!, '+', '-', 'COUNT', 1)).map(
      ([, f]) => parseOpsEntry('', f),
    )[0];
    expect([last?.type, last?.subject, last?.facts.by]).toEqual([
      'host.resumed',
      'paused.example',
      'operator',
    ]);
    expect(await redis.xlen(ns.env.INVOKE_OPS_STREAM!)).toBe(3);
    const bad = (await cli('open', 'api.partner.com/path')) as { code: number; stderr: string };
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('host: "api.partner.com/path" is not a host or host:port');
  }, 30_000);
});

describe('destination gauges', () => {
  it("report each host's breaker state", async () => {
    const registry = new Registry();
    registerDestinationMetrics(registry, { redis, prefix: ns.prefix });
    await openBreaker(redis, ns.prefix, 'down.example:8443');
    const text = await registry.metrics();
    expect(text).toContain('invoke_destination_breaker_state{host="down.example:8443"} 2');
    expect(text).toContain('invoke_destination_in_flight{host="down.example:8443"} 0');
  });
});

describe('a bad INVOKE_DESTINATIONS', () => {
  it('stops the worker at start with exit 2, naming the field', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      ...ns.env,
      INVOKE_API_ENABLED: 'false',
      INVOKE_DESTINATIONS: '{"hosts":{"api.partner.com":{"maxConcurrent":0}}}',
    };
    const r = (await run(process.execPath, ['dist/main.js'], { env }).catch(
      (err: unknown) => err,
    )) as { code: number; stderr: string };
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'invalid configuration: INVOKE_DESTINATIONS: hosts["api.partner.com"].maxConcurrent: ',
    );
  });
});
