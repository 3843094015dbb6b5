/**
 * How stages outside the processor plug into one attempt: a hook before the call (destination
 * limits today) and observers of every finished attempt (metrics, breakers). The processor runs
 * them; the stages import these types from here, never from worker/.
 */
import type { Job } from 'bullmq';
import type { RenderedRequest } from '../template/render.js';

/** One finished attempt, as observers see it. */
export interface AttemptInfo {
  job: Job;
  host: string;
  method: string;
  status: number | null;
  durationMs: number;
  errorCode: string | undefined;
  outcome: 'completed' | 'retry' | 'failed' | 'held';
  /** Retry-After of a 429/503, already capped. */
  retryAfterMs?: number | undefined;
  /** 1-based number of this attempt. */
  attempt?: number | undefined;
  /** Our error's message, secrets already scrubbed. */
  errorMessage?: string | undefined;
  /** The request as rendered, unmasked: an observer that keeps it must mask it (attempts/). */
  request?: RenderedRequest | undefined;
  /** The partner's answer when there was one (allow-listed headers, body as read). */
  response?: { headers: Record<string, string>; body: Buffer; truncated: boolean } | undefined;
  /** The job's tenant id (contract 6.1), undefined for a v1 job. */
  tenantId?: string | undefined;
  /**
   * Scrubs this job's secret values (a tenant job's view includes its tenant secrets, which the
   * process-wide scrubber does not know): an observer that keeps text must use it when set.
   */
  scrub?: ((text: string) => string) | undefined;
  /** The step's response cache: hit (no call), miss (called) or bypass (carried a secret). */
  cache?: 'hit' | 'miss' | 'bypass' | undefined;
}

/**
 * Runs before the call; may throw to delay (DelayedError, after moving the job) or fail the job
 * (InvokeError). Resolves to the release of whatever it holds for the call, run when it ends.
 */
export type BeforeCall = (job: Job, url: URL, token: string | undefined) => Promise<() => void>;

/** Sees every finished attempt; must not throw. */
export type AttemptObserver = (info: AttemptInfo) => void;

export interface AttemptHooks {
  beforeCall?: BeforeCall;
  observers?: AttemptObserver[];
}

/** Two stages before the call, in order; the first's hold is released if the second refuses. */
export function chainBeforeCall(first: BeforeCall, second: BeforeCall | undefined): BeforeCall {
  if (!second) return first;
  return async (job, url, token) => {
    const releaseFirst = await first(job, url, token);
    try {
      const releaseSecond = await second(job, url, token);
      return () => {
        releaseSecond();
        releaseFirst();
      };
    } catch (err) {
      releaseFirst();
      throw err;
    }
  };
}
