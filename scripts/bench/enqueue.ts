/**
 * The producer side: the client's `enqueueMany` of 10,000 small jobs (validation, idempotency
 * keys, race-free dedupe, MULTI blocks) next to BullMQ's own `Queue.addBulk` of the same jobs
 * with the same options, each round on fresh queues. Round 1 is the first call in this process
 * (cold JIT, as a producer's first batch after a deploy); the later rounds are the steady state.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createInvokeClient } from '../../src/client/create-invoke-client.js';
import { makeJobs } from './jobs.js';

export interface EnqueueTimes {
  jobs: number;
  /** ms per round, round 1 first. */
  enqueueMany: number[];
  addBulk: number[];
}

const JOBS = 10_000;
const ROUNDS = 3;

export async function measureEnqueue(redisUrl: string): Promise<EnqueueTimes> {
  const times: EnqueueTimes = { jobs: JOBS, enqueueMany: [], addBulk: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const prefix = `bench:enqueue-${process.pid}-${round}`;
    const client = createInvokeClient({ redisUrl, prefix: `${prefix}:client` });
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('invoke-api', { connection, prefix: `${prefix}:bulk` });
    try {
      await Promise.all([client.queue.waitUntilReady(), queue.waitUntilReady()]);
      const inputs = makeJobs('small', 'http://127.0.0.1:1', JOBS).map((j) => j.data);
      let t0 = performance.now();
      const results = await client.enqueueMany(inputs);
      times.enqueueMany.push(performance.now() - t0);
      if (results.some((r) => r.deduplicated))
        throw new Error('enqueueMany deduplicated fresh jobs');
      const bulk = makeJobs('small', 'http://127.0.0.1:1', JOBS);
      t0 = performance.now();
      await queue.addBulk(bulk);
      times.addBulk.push(performance.now() - t0);
    } finally {
      await Promise.all([
        client.queue.obliterate({ force: true }),
        queue.obliterate({ force: true }),
      ]);
      await Promise.all([client.close(), queue.close()]);
      await connection.quit();
    }
  }
  return times;
}

export const warm = (ms: number[]) => Math.min(...ms.slice(1));
export const cold = (ms: number[]) => ms[0]!;

export function describeEnqueue(t: EnqueueTimes): string {
  const r = (n: number) => Math.round(n);
  return (
    `enqueue ${t.jobs.toLocaleString('en')} jobs: client enqueueMany ${r(cold(t.enqueueMany))} ms first call, ${r(warm(t.enqueueMany))} ms warm; ` +
    `Queue.addBulk ${r(cold(t.addBulk))} / ${r(warm(t.addBulk))} ms (rounds: ${t.enqueueMany.map(r).join(', ')} vs ${t.addBulk.map(r).join(', ')})`
  );
}
