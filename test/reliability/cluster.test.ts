/**
 * Redis Cluster: three masters on loopback, the worker with REDIS_CLUSTER_NODES and a
 * hash-tagged BULLMQ_PREFIX ({bull}). The whole pipeline runs (two steps of a run, the second
 * reading the first's result from context), each run's context hash sits in its run's slot,
 * and events flow (on a Cluster the writer saves, then emits, in two pipelines). The nodes
 * require a password, given to the worker in REDIS_URL as for a single node.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { CTX_PREFIX, counts, expectSavedOnce, queueOn, readEvents, workerEnv } from './fixtures.js';

let cluster: RedisCluster;
let up: Upstream;
let worker: WorkerProcess | undefined;
let conn: Cluster;
const PASSWORD = 'cl-pass-123';

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, password: PASSWORD });
  up = await startUpstream((r, res) =>
    json(res, 200, r.url.startsWith('/second') ? { echoed: JSON.parse(r.body) } : { points: 5 }),
  );
  conn = new Cluster(
    cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { redisOptions: { maxRetriesPerRequest: null, password: PASSWORD } },
  );
}, 60_000);
afterAll(async () => {
  await worker?.stop(3000);
  conn?.disconnect();
  await up.close();
  await cluster.destroy();
});

it('runs the pipeline on a 3-master cluster with a {bull} prefix', async () => {
  worker = await startWorker(
    workerEnv(`redis://:${PASSWORD}@127.0.0.1:1`, {
      REDIS_CLUSTER_NODES: cluster.seeds,
      BULLMQ_PREFIX: '{bull}',
    }),
  );
  const queue = queueOn(conn, '{bull}');
  const first = Array.from({ length: 30 }, (_, i) => {
    const data = jobData({
      runId: `cl-${i}-${Math.random().toString(36).slice(2, 8)}`,
      request: { url: `${up.url}/first` },
    });
    return { name: 'invoke', data, opts: { jobId: idempotencyKey(data), attempts: 3 } };
  });
  await queue.addBulk(first);
  await waitFor(
    async () => (await counts(queue)).completed === 30 || undefined,
    '30 first steps completed',
  );
  await expectSavedOnce(conn, first);

  // Second step of each run reads the first step's saved result (HGETALL in the run's slot).
  const second = first.map(({ data }) => {
    const d = jobData({
      runId: data.runId,
      stepId: 'use-it',
      request: {
        method: 'POST',
        url: `${up.url}/second`,
        body: { points: '{{ context.loyalty.body.points }}' },
      },
      save: { variable: 'second' },
    });
    return { name: 'invoke', data: d, opts: { jobId: idempotencyKey(d), attempts: 3 } };
  });
  await queue.addBulk(second);
  await waitFor(
    async () => (await counts(queue)).completed === 60 || undefined,
    '30 second steps completed',
  );

  const nodes = cluster.nodes.map((n) => new Redis(n.port, '127.0.0.1', { password: PASSWORD }));
  try {
    for (const { data } of first) {
      const key = `${CTX_PREFIX}:{${data.runId}}`;
      const saved = JSON.parse((await conn.hget(key, 'second'))!);
      expect(saved.body).toEqual({ echoed: { points: '5' } });
      // The key hashes to the run's slot, and exactly the node serving that slot holds it.
      const slot = await nodes[0]!.cluster('KEYSLOT', key);
      expect(slot).toBe(await nodes[0]!.cluster('KEYSLOT', data.runId));
      const holders = (
        await Promise.all(nodes.map((n) => n.cluster('COUNTKEYSINSLOT', slot)))
      ).filter((c) => Number(c) > 0);
      expect(holders).toHaveLength(1);
    }
    // Runs spread over the masters: the test exercised more than one node.
    const perNode = await Promise.all(nodes.map((n) => n.dbsize()));
    expect(perNode.filter((k) => k > 0).length).toBeGreaterThan(1);
  } finally {
    for (const n of nodes) n.disconnect();
  }
  const events = await readEvents(conn);
  expect(events).toHaveLength(60);
  expect(new Set(events.map((e) => e.type))).toEqual(new Set(['invoke.completed']));
  expect(worker.logs.filter(isCrashLog)).toEqual([]);
  await queue.close();
}, 180_000);
