/**
 * Fair share on a Redis Cluster (three masters, password): the client enqueues through the fair
 * index with a hash-tagged prefix ({bull}), two worker processes admit and run, and every job
 * completes once with its result saved; the index scripts touch only the queue's slot (a script
 * reaching another slot would fail with CROSSSLOT and the jobs would never run).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { createInvokeClient } from '../../src/client/create-invoke-client.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { counts, expectSavedOnce, queueOn, workerEnv } from './fixtures.js';

let cluster: RedisCluster;
let up: Upstream;
const workers: WorkerProcess[] = [];
let conn: Cluster;
const PASSWORD = 'cl-pass-456';

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, password: PASSWORD });
  up = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, { points: 5 }), 20));
  conn = new Cluster(
    cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { redisOptions: { maxRetriesPerRequest: null, password: PASSWORD } },
  );
}, 60_000);
afterAll(async () => {
  for (const w of workers) await w.stop(3000);
  conn?.disconnect();
  await up.close();
  await cluster.destroy();
});

it('admits and runs a two-tenant fair backlog on a 3-master cluster', async () => {
  const env = workerEnv(`redis://:${PASSWORD}@127.0.0.1:1`, {
    REDIS_CLUSTER_NODES: cluster.seeds,
    BULLMQ_PREFIX: '{bull}',
    INVOKE_CONCURRENCY: '10',
  });
  workers.push(await startWorker(env), await startWorker(env));
  const producer = createInvokeClient({ connection: conn, prefix: '{bull}' });
  const make = (tenantId: string, n: number) =>
    Array.from({ length: n }, (_, i) =>
      jobData({
        tenantId,
        journeyId: 'j',
        runId: `${tenantId}-${i}`,
        request: { url: `${up.url}/${tenantId}/${i}` },
      }),
    );
  const data = [...make('blast', 300), ...make('shop', 20)];
  const ids = (await producer.enqueueMany(data)).map((r) => r.jobId);
  const queue = queueOn(conn, '{bull}');
  await waitFor(
    async () => (await counts(queue)).completed === data.length || undefined,
    `all ${data.length} completed`,
    120_000,
  );
  expect(await counts(queue)).toMatchObject({ wait: 0, active: 0, delayed: 0, failed: 0 });
  await expectSavedOnce(
    conn,
    data.map((d, i) => ({ data: d, opts: { jobId: ids[i]! } })),
  );
  expect(await conn.hgetall('{bull}:invoke-api:fair:counts')).toEqual({});
  // The small tenant was not served last: its last call came before the blast's last hundred.
  const order = up.requests.map((r) => r.url.split('/')[1]);
  expect(order.lastIndexOf('shop')).toBeLessThan(order.length - 100);
  for (const w of workers) expect(w.logs.filter(isCrashLog)).toEqual([]);
  await queue.close();
  await producer.queue.close();
}, 240_000);
