/** Adds a job the way the client does (jobId from the idempotency key). */
import type { Queue } from 'bullmq';
import { idempotencyKey } from '../../src/contract/idempotency.js';

export async function enqueueJob(
  queue: Queue,
  data: { runId: string; stepId: string; visit?: number },
  attempts = 3,
): Promise<string> {
  const id = idempotencyKey(data);
  await queue.add('invoke', data, { jobId: id, attempts, backoff: { type: 'fixed', delay: 50 } });
  return id;
}
