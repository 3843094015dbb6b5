/**
 * A Sentinel switch never ends a connection for good. ioredis's own failoverDetector does when
 * +switch-master arrives while a reconnect is asking a Sentinel for the master (8 to 40 of these
 * 40 connections ended, status "end", every later command "Connection is closed"): after a master
 * crash every connection is reconnecting, so this is the common case. Reconnect delays of 5 ms
 * keep the connections asking Sentinel most of the time, which makes that race the rule here.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { client } from './fixtures.js';
import { sentinelRedis } from '../../src/redis.js';

let setup: RedisSentinelSetup | undefined;
const conns: Redis[] = [];

beforeAll(async () => {
  setup = await startRedisSentinel({ downAfterMs: 1000, failoverTimeoutMs: 3000 });
}, 60_000);
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await setup?.destroy();
});

const open = (c: Redis) => {
  c.on('error', () => undefined);
  conns.push(c);
  return c;
};

it('every connection follows a master crash and the switch, and closes its Sentinel watch with it', async () => {
  const s = setup!;
  const cfg = {
    REDIS_URL: 'redis://sentinel-managed:6379',
    REDIS_SENTINELS: [`127.0.0.1:${s.sentinel.port}`],
    REDIS_SENTINEL_NAME: 'mymaster',
  };
  const made = Array.from({ length: 30 }, () =>
    open(sentinelRedis(cfg, { maxRetriesPerRequest: null, retryStrategy: () => 5 })),
  );
  // BullMQ's blocking connection is a duplicate of the one it is given.
  const clients = [...made, ...made.slice(0, 10).map((c) => open(c.duplicate()))];
  await Promise.all(clients.map((c) => c.ping()));
  const sentinel = open(client(s.sentinel.url));
  const watches = async () =>
    ((await sentinel.call('CLIENT', 'LIST')) as string)
      .split('\n')
      .filter((l) => l.includes('name=invoke-api:sentinel-watch')).length;
  await waitFor(
    async () => (await watches()) === clients.length || undefined,
    'one Sentinel watch per connection',
  );

  await s.master.stop('SIGKILL');
  const writes = clients.map((c, i) =>
    c.set(`k${i}`, '1').then(
      () => 'ok',
      (e: Error) => e.message,
    ),
  );
  await waitFor(
    async () =>
      Number(
        ((await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[])[1],
      ) === s.replica.port || undefined,
    'the replica to be promoted',
    30_000,
  );
  const results = await Promise.all(writes);
  expect(
    results.filter((r) => r !== 'ok'),
    'writes that failed instead of waiting for the new master',
  ).toEqual([]);
  // None ended for good; each is (or is about to be) connected to the new master.
  expect(clients.filter((c) => c.status === 'end')).toEqual([]);
  await waitFor(
    async () => clients.every((c) => c.status === 'ready') || undefined,
    'every connection ready on the new master',
    15_000,
  );
  const promoted = open(client(s.replica.url));
  expect(await promoted.dbsize()).toBe(clients.length);

  await Promise.all(clients.map((c) => c.quit()));
  await waitFor(
    async () => (await watches()) === 0 || undefined,
    'the Sentinel watches to close with their connections',
  );
}, 120_000);
