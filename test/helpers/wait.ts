/** Wait for states, never for time: poll until a condition holds or fail with what was seen. */
import type { Queue } from 'bullmq';

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function waitForJob(
  queue: Queue,
  jobId: string,
  state: 'completed' | 'failed',
  timeoutMs = 20_000,
) {
  return waitFor(
    async () => {
      // State first, then the job: a job object read before the state changed would be stale.
      if ((await queue.getJobState(jobId)) !== state) return undefined;
      return queue.getJob(jobId);
    },
    `job ${jobId} to be ${state}`,
    timeoutMs,
  );
}
