/**
 * The saved envelope of each finished job, for the dashboard. bull-board shows a job's
 * returnValue, which is null for ours: the result lives in the run's context hash, not in
 * BullMQ. Read with one pipeline per page of jobs; shown only when its eventId is this job's key
 * (a later visit may have overwritten the variable); masked like the dry run's request:
 * configured secrets scrubbed, credential-named headers hidden.
 */
import type { Config } from '../config.js';
import type { RedisClient } from '../redis.js';
import { contextKey } from '../store/context.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { createScrubber, REDACTED } from '../template/secrets.js';
import { isSensitiveName } from '../dry-run/mask.js';
import { parseJsonOrText } from '../lib/json.js';

/** The fields of a BullMQ job this reads and sets. */
export interface FinishedJob {
  data: unknown;
  finishedOn?: number | undefined;
  returnvalue: unknown;
}

interface StepRef {
  runId: string;
  stepId: string;
  visit: number;
  variable: string;
}

function stepOf(data: unknown): StepRef | undefined {
  const d = data as
    | { runId?: unknown; stepId?: unknown; visit?: unknown; save?: { variable?: unknown } }
    | undefined;
  const variable = d?.save?.variable;
  if (typeof d?.runId !== 'string' || typeof d.stepId !== 'string' || typeof variable !== 'string')
    return undefined;
  return {
    runId: d.runId,
    stepId: d.stepId,
    visit: typeof d.visit === 'number' ? d.visit : 1,
    variable,
  };
}

function maskHeaders(envelope: Record<string, unknown>): Record<string, unknown> {
  const headers = envelope.headers as Record<string, string> | undefined;
  if (!headers || typeof headers !== 'object') return envelope;
  const shown = Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [
      k,
      isSensitiveName(k) || /^set-cookie$/i.test(k) ? REDACTED : v,
    ]),
  );
  return { ...envelope, headers: shown };
}

export function createEnvelopeReader(
  redis: RedisClient,
  cfg: Pick<Config, 'INVOKE_CTX_PREFIX' | 'secrets'>,
) {
  const scrub = createScrubber(cfg.secrets);
  /** Sets returnvalue to the saved, masked envelope on each finished job that has one. */
  return async function attachEnvelopes(jobs: FinishedJob[]): Promise<void> {
    const wanted = jobs.flatMap((job) => {
      const step =
        job.finishedOn && (job.returnvalue === null || job.returnvalue === undefined)
          ? stepOf(job.data)
          : undefined;
      return step ? [{ job, step }] : [];
    });
    if (wanted.length === 0) return;
    const replies = await Promise.all(
      wanted.map(({ step }) =>
        redis.hget(contextKey(cfg.INVOKE_CTX_PREFIX, step.runId), step.variable),
      ),
    );
    wanted.forEach(({ job, step }, i) => {
      const saved =
        replies[i] === null || replies[i] === undefined ? undefined : parseJsonOrText(replies[i]!);
      if (
        !saved ||
        typeof saved !== 'object' ||
        (saved as { eventId?: unknown }).eventId !== idempotencyKey(step)
      )
        return;
      job.returnvalue = scrub.deep(maskHeaders(saved as Record<string, unknown>));
    });
  };
}
