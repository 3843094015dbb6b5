/**
 * The wait stage of the attempt pipeline (contract v1.1 section 6.5), for steps with `wait`:
 * before rendering, `callback.url` and `callback.token` for the templates; after a successful
 * call, the step waits for its callback instead of saving and emitting. The worker then
 * completes the BullMQ job: no slot, lock or timer is held while the step waits.
 */
import type { Job } from 'bullmq';
import type { Envelope } from '../contract/envelope.js';
import { InvokeError } from '../contract/errors.js';
import type { InvokeJob } from '../contract/job.js';
import type { Callbacks } from './service.js';

export interface WaitStage {
  /** The template scope's `callback`: { token, url } (url only with INVOKE_PUBLIC_URL). */
  scope(bull: Job, job: InvokeJob): Promise<{ token: string; url?: string }>;
  /** After the successful call: record the waiting step (and settle an early callback). */
  wait(bull: Job, job: InvokeJob, envelope: Envelope): Promise<void>;
}

export function createWaitStage(callbacks: Callbacks): WaitStage {
  // The generation each job's token was rendered with, for the wait that follows the call.
  const gens = new WeakMap<Job, number>();
  const claimOf = async (bull: Job) => {
    const jobId = bull.id ?? '';
    const gen = gens.get(bull) ?? (await callbacks.store.generation(jobId, bull.timestamp));
    return { jobId, ts: bull.timestamp, gen };
  };

  return {
    async scope(bull, _job) {
      if (!callbacks.enabled) {
        throw new InvokeError(
          'INVALID_JOB',
          'wait: this worker has no key to seal callback tokens; set INVOKE_CALLBACK_KEY (or INVOKE_SECRETS_KEY)',
        );
      }
      const claim = await claimOf(bull);
      gens.set(bull, claim.gen);
      const { token, url } = callbacks.tokenFor(claim);
      return url === undefined ? { token } : { token, url };
    },
    async wait(bull, job, envelope) {
      try {
        const claim = await claimOf(bull);
        await callbacks.wait(claim.jobId, {
          ts: claim.ts,
          gen: claim.gen,
          job,
          envelope,
          timeoutMs: job.wait!.timeoutMs,
        });
      } catch {
        // Redis trouble: BullMQ retries the job (the partner sees the same token again). Our
        // message only: BullMQ stores it in Redis.
        throw new Error('could not record the waiting step; will retry');
      }
    },
  };
}

/** callback.* for a dry run (POST /v1/invocations/test, invoke-api try): a token of no step. */
export function placeholderCallback(publicUrl: string | undefined): {
  token: string;
  url?: string;
} {
  const token = 'icb_dry-run';
  return publicUrl
    ? { token, url: `${publicUrl.replace(/\/+$/, '')}/v1/callbacks/${token}` }
    : { token };
}
