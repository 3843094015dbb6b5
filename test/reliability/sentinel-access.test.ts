/**
 * Sentinels that have their own password (requirepass): every connection asks them for the
 * master with REDIS_SENTINEL_PASSWORD and its switch watch subscribes with it, so an idle
 * connection moves to a promoted replica at the announcement. Without the setting the service
 * does not start, and says which setting is missing. The password reaches no log line.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { freePort, startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { createRedis, type RedisSettings } from '../../src/redis.js';
import { waitForRedis } from '../../src/startup/wait-for-redis.js';

const MASTER_PASSWORD = 'master-pw-5c1d';
const SENTINEL_PASSWORD = 'sentinel-pw-9e7a';
let setup: RedisSentinelSetup;
const opened: Redis[] = [];

beforeAll(async () => {
  setup = await startRedisSentinel({
    password: MASTER_PASSWORD,
    sentinelPassword: SENTINEL_PASSWORD,
    downAfterMs: 1000,
    failoverTimeoutMs: 3000,
  });
}, 60_000);
afterAll(async () => {
  for (const c of opened) c.disconnect();
  await setup?.destroy();
});

const settings = (extra: Partial<RedisSettings> = {}): RedisSettings => ({
  REDIS_URL: `redis://:${MASTER_PASSWORD}@sentinel-managed:6379`,
  REDIS_CLUSTER_NODES: undefined,
  REDIS_SENTINELS: [`127.0.0.1:${setup.sentinel.port}`],
  REDIS_SENTINEL_NAME: 'mymaster',
  ...extra,
});

function sentinelAdmin(): Redis {
  const c = new Redis(setup.sentinel.port, '127.0.0.1', { password: SENTINEL_PASSWORD });
  opened.push(c);
  return c;
}

it('without REDIS_SENTINEL_PASSWORD the start-up line names it, and no password is printed', async () => {
  const warned: unknown[] = [];
  const line = await waitForRedis(settings(), 1500, { warn: (o: unknown) => warned.push(o) });
  expect(line).toMatch(/REDIS_SENTINEL_PASSWORD/);
  const printed = JSON.stringify([line, warned]);
  expect(printed).not.toContain(MASTER_PASSWORD);
  expect(printed).not.toContain(SENTINEL_PASSWORD);
});

it('Sentinels not listening, or not knowing the master name: the line says which setting to check', async () => {
  const closed = await freePort();
  const quiet = { warn: () => undefined };
  expect(
    await waitForRedis(settings({ REDIS_SENTINELS: [`127.0.0.1:${closed}`] }), 1000, quiet),
  ).toBe(
    `cannot reach the Sentinels at 127.0.0.1:${closed} (connection closed): are they running? check REDIS_SENTINELS and REDIS_SENTINEL_TLS`,
  );
  const unknownName = settings({
    REDIS_SENTINEL_NAME: 'no-such-group',
    REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
  });
  expect(await waitForRedis(unknownName, 1000, quiet)).toMatch(
    /^the Sentinels at 127\.0\.0\.1:\d+ named no master .*check REDIS_SENTINELS and REDIS_SENTINEL_NAME$/,
  );
});

it('with it: connects through the Sentinel, watches for switches, and follows a failover while idle', async () => {
  const conn = createRedis(settings({ REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD }), 'access');
  opened.push(conn as Redis);
  await conn.set('sentinel-access:k', 'v');
  expect(await conn.get('sentinel-access:k')).toBe('v');
  expect((conn as Redis).stream.remotePort).toBe(setup.master.port);

  // The watch is subscribed: a refused AUTH would leave it without a name and a subscription.
  const admin = sentinelAdmin();
  await waitFor(async () => {
    const list = (await admin.call('CLIENT', 'LIST')) as string;
    return (
      list
        .split('\n')
        .some((l) => l.includes('name=invoke-api:sentinel-watch') && / sub=1 /.test(l)) || undefined
    );
  }, 'the switch watch subscribed on the Sentinel');

  await admin.call('SENTINEL', 'FAILOVER', 'mymaster');
  // No command is sent meanwhile: only the announcement can move an idle connection (a write
  // would also move it, through READONLY from the demoted master).
  await waitFor(
    async () => (conn as Redis).stream?.remotePort === setup.replica.port || undefined,
    'the idle connection on the promoted replica',
    20_000,
  );
  expect(await conn.get('sentinel-access:k')).toBe('v');
  await conn.del('sentinel-access:k');
}, 40_000);
