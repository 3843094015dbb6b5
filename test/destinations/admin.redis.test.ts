/** Operator surfaces over the shared destination state: the breaker CLI command and the gauges. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { registerDestinationMetrics } from '../../src/destinations/metrics.js';
import { hostStatus, openBreaker } from '../../src/destinations/admin.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const run = promisify(execFile);
const ns = namespace('dest-admin');
const redis = redisClient();
const cli = (...args: string[]) =>
  run(process.execPath, [fileURLToPath(new URL('./fixtures/breaker-cli.mjs', import.meta.url)), 'breaker', ...args], { env: { ...process.env, ...ns.env } })
    .catch((err: { code: number; stdout: string; stderr: string }) => err);

afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('invoke-api breaker', () => {
  it('opens, lists and closes a host\'s breaker, and names a bad argument', async () => {
    const opened = await cli('open', 'API.Partner.com', '--for', '600');
    expect(opened.stdout).toMatch(/breaker for api\.partner\.com is open until 20\d\d-/);
    expect((await cli('list')).stdout).toMatch(/^HOST\s+BREAKER[\s\S]*api\.partner\.com\s+open \(manual\)/);
    expect((await cli('close', 'api.partner.com')).stdout).toContain('breaker for api.partner.com is closed');
    expect((await hostStatus(redis, ns.prefix, 'api.partner.com', 0)).breaker).toBe('closed');
    const bad = (await cli('open', 'api.partner.com/path')) as { code: number; stderr: string };
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('host: "api.partner.com/path" is not a host or host:port');
  }, 30_000);
});

describe('destination gauges', () => {
  it('report each host\'s breaker state', async () => {
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
    const env = { PATH: process.env.PATH ?? '', ...ns.env, INVOKE_API_ENABLED: 'false', INVOKE_DESTINATIONS: '{"hosts":{"api.partner.com":{"maxConcurrent":0}}}' };
    const r = (await run(process.execPath, ['dist/main.js'], { env }).catch((err: unknown) => err)) as { code: number; stderr: string };
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid configuration: INVOKE_DESTINATIONS: hosts["api.partner.com"].maxConcurrent: ');
  });
});
