/**
 * The fair index and its admission on a real Redis, without workers: jobs go in through the
 * client, the window is set by hand, and the order admission pushes them to BullMQ's wait list
 * is read back. Each test owns its namespace and leaves no key behind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { createFairStore, type FairStore } from '../../src/fair/store.js';
import {
  cleanNamespace,
  namespace,
  namespaceKeys,
  redisClient,
  type Namespace,
} from '../helpers/redis.js';
import { jobData } from '../helpers/harness.js';

let ns: Namespace;
let redis: ReturnType<typeof redisClient>;
let client: InvokeClient;
let store: FairStore;

beforeEach(async () => {
  ns = namespace('fair');
  redis = redisClient();
  client = createInvokeClient({ connection: redisClient(), queue: ns.queue, prefix: ns.prefix });
  store = createFairStore(redis, ns.prefix, ns.queue);
  await setWindow(0);
});

afterEach(async () => {
  await client.close();
  await (client.queue.opts.connection as { quit(): Promise<unknown> }).quit();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

const setWindow = (n: number) => redis.hset(`${ns.prefix}:${ns.queue}:fair:state`, 'window', n);
const step = (tenantId: string | undefined, journeyId: string, n: number) =>
  jobData({
    journeyId,
    runId: `${tenantId ?? 'none'}-${journeyId}-${n}`,
    ...(tenantId ? { tenantId } : {}),
  });
/** The wait list oldest first (BullMQ pushes on the left and takes from the right). */
const waiting = async () => (await redis.lrange(`${ns.prefix}:${ns.queue}:wait`, 0, -1)).reverse();
const runIdsOf = async (ids: string[]) =>
  Promise.all(ids.map(async (id) => (await client.queue.getJob(id))!.data.runId as string));

async function admitAll(window: number): Promise<string[]> {
  await setWindow(window);
  await store.admit();
  return runIdsOf(await waiting());
}

describe('fair index', () => {
  it('keeps client jobs out of the FIFO until admitted, then alternates tenants', async () => {
    await client.enqueueMany(Array.from({ length: 6 }, (_, i) => step('A', 'blast', i)));
    await client.enqueue(step('B', 'orders', 0));
    await client.enqueue(step('B', 'orders', 1));
    expect(await waiting()).toEqual([]);
    expect(await client.queue.getJobCounts('delayed')).toEqual({ delayed: 8 });
    expect(await store.waitingByTenant()).toEqual({ A: 6, B: 2 });
    const order = await admitAll(5);
    // B's first step comes second, not after A's six; A alone fills the rest.
    expect(order).toEqual(['A-blast-0', 'B-orders-0', 'A-blast-1', 'B-orders-1', 'A-blast-2']);
    expect(await store.waitingByTenant()).toEqual({ A: 3 });
  });

  it('alternates journeys inside one tenant and keeps each journey first-in first-out', async () => {
    await client.enqueueMany(Array.from({ length: 4 }, (_, i) => step('A', 'blast', i)));
    await client.enqueueMany([step('A', 'welcome', 0), step('A', 'welcome', 1)]);
    const order = await admitAll(6);
    expect(order).toEqual([
      'A-blast-0',
      'A-welcome-0',
      'A-blast-1',
      'A-welcome-1',
      'A-blast-2',
      'A-blast-3',
    ]);
  });

  it('treats jobs without tenantId as one tenant among the others', async () => {
    await client.enqueueMany(Array.from({ length: 3 }, (_, i) => step(undefined, 'j1', i)));
    await client.enqueueMany([step(undefined, 'j2', 0), step('T', 'j1', 0)]);
    expect(await store.waitingByTenant()).toEqual({ '': 4, T: 1 });
    const order = await admitAll(3);
    expect(order).toEqual(['none-j1-0', 'T-j1-0', 'none-j2-0']);
  });

  it('serves tenants in proportion to their weights', async () => {
    await store.setWeights(1, [['big', 3]]);
    await client.enqueueMany(Array.from({ length: 12 }, (_, i) => step('big', 'j', i)));
    await client.enqueueMany(Array.from({ length: 12 }, (_, i) => step('small', 'j', i)));
    const order = await admitAll(8);
    expect(order.filter((r) => r.startsWith('big')).length).toBe(6);
    expect(order.filter((r) => r.startsWith('small')).length).toBe(2);
  });

  it('indexes a deduplicated enqueue once, and never re-admits a job already admitted', async () => {
    const job = step('A', 'j', 0);
    expect((await client.enqueue(job)).deduplicated).toBe(false);
    expect((await client.enqueue(job)).deduplicated).toBe(true);
    expect(await store.waitingByTenant()).toEqual({ A: 1 });
    expect(await admitAll(5)).toEqual(['A-j-0']);
    expect((await client.enqueue(job)).deduplicated).toBe(true);
    expect(await store.waitingByTenant()).toEqual({});
    await store.admit();
    expect(await waiting()).toHaveLength(1);
  });

  it('skips an index entry whose job was removed, without losing the next one', async () => {
    const [first] = await client.enqueueMany([step('A', 'j', 0), step('A', 'j', 1)]);
    await (await client.queue.getJob(first!.jobId))!.remove();
    expect(await admitAll(5)).toEqual(['A-j-1']);
  });

  it('admits at intake while the window has room, and only up to it', async () => {
    await setWindow(2);
    await client.enqueueMany(Array.from({ length: 5 }, (_, i) => step('A', 'j', i)));
    expect(await runIdsOf(await waiting())).toEqual(['A-j-0', 'A-j-1']);
    expect(await store.waitingByTenant()).toEqual({ A: 3 });
  });

  it('leaves a held tenant out of the rotation until its hold ends', async () => {
    await client.enqueueMany([
      step('A', 'j', 0),
      step('A', 'j', 1),
      step('B', 'j', 0),
      step('B', 'j', 1),
    ]);
    await store.hold('A', 60_000);
    expect(await admitAll(3)).toEqual(['B-j-0', 'B-j-1']);
    await redis.zadd(`${ns.prefix}:${ns.queue}:fair:parked`, 0, 'A');
    await store.admit();
    expect(await runIdsOf(await waiting())).toEqual(['B-j-0', 'B-j-1', 'A-j-0']);
  });

  it('skips the index for a job given a delay, and when fairShare is off', async () => {
    const plain = createInvokeClient({
      connection: redis,
      queue: ns.queue,
      prefix: ns.prefix,
      fairShare: false,
    });
    await plain.enqueue(step('A', 'j', 0));
    await client.enqueue(step('A', 'j', 1), { delay: 60_000 });
    expect(await store.waitingByTenant()).toEqual({});
    expect(await runIdsOf(await waiting())).toEqual(['A-j-0']);
    await plain.queue.close();
  });

  it('leaves no index keys behind once everything is admitted', async () => {
    await client.enqueueMany([step('A', 'x', 0), step('B', 'y', 0)]);
    await admitAll(10);
    const fairKeys = (await namespaceKeys(redis, ns)).filter((k) => k.includes(':fair:'));
    expect(fairKeys.sort()).toEqual([`${ns.prefix}:${ns.queue}:fair:state`]);
  });
});
