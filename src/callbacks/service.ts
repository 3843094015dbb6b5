/**
 * Waiting steps (contract v1.1 section 6.5): the one API under the callback route, the client's
 * complete(), the worker's wait stage, the timeout sweeper and the operator actions.
 *
 * Every ending goes through settle(): read the record, build the envelope and event in
 * TypeScript (save.pick, the job's identity), then let the SETTLE script apply them only if
 * the record is still in the state and generation that was read. Of any number of racing
 * callbacks, operators and sweepers, exactly one finds it so; the others learn what happened.
 */
import type { Config } from '../config.js';
import type { Envelope } from '../contract/envelope.js';
import { MAX_WAIT_MS, type InvokeJob } from '../contract/job.js';
import { buildEvent, eventFields } from '../events/continuation.js';
import { contextKey } from '../store/context.js';
import { createResultWriter, type WriteResult } from '../store/result-writer.js';
import type { ContinuationEvent } from '../contract/event.js';
import { parseJsonOrText } from '../lib/json.js';
import type { RedisClient } from '../redis.js';
import {
  completedEnvelope,
  discardedEnvelope,
  metaOf,
  timeoutEnvelope,
  type CallMeta,
} from './envelopes.js';
import { createCallbackStore, type Settlement, type StepState, type WaitRecord } from './store.js';
import { openToken, sealToken, tokenKeysFrom, type CallbackClaim } from './token.js';

export type CallbacksConfig = Pick<
  Config,
  | 'INVOKE_QUEUE'
  | 'BULLMQ_PREFIX'
  | 'INVOKE_CTX_PREFIX'
  | 'INVOKE_CTX_TTL_SECONDS'
  | 'INVOKE_EVENTS_STREAM'
  | 'INVOKE_EVENTS_MAXLEN'
  | 'INVOKE_RETAIN_FAILED_SECONDS'
> &
  Partial<Pick<Config, 'INVOKE_PUBLIC_URL' | 'INVOKE_CALLBACK_KEY' | 'INVOKE_SECRETS_KEY'>>;

const DAY_MS = 86_400_000;
/**
 * How long after its enqueue a token may still arrive early, and how long a finished step's
 * record stays to answer repeats with 200 (not 202, as if new): the longest wait plus a week
 * for the call's own retries.
 */
export const HORIZON_MS = MAX_WAIT_MS + 7 * DAY_MS;

/** first: 202 (stored or completed); repeat: 200; gone: 410; unknown: 404. */
export type CallbackResult = 'first' | 'repeat' | 'gone' | 'unknown';
/** What an operator action did: done, or why not (the step's state, not found, ...). */
export type StepActionResult = { done: true } | { done: false; reason: string };

const STATE_NAMES: Record<StepState, string> = {
  c: 'calling',
  w: 'waiting',
  d: 'completed',
  t: 'timed out',
  h: 'held',
  x: 'discarded',
  p: 'finishing',
};
export const stateName = (s: string) => STATE_NAMES[s as StepState] ?? s;

/** Cluster: the writes a decided step still needs (kept in the record until made). */
interface Pending {
  runId: string;
  variable: string;
  envelope: Envelope;
  event: ContinuationEvent | undefined;
  keepJob: boolean;
  expireAt: number;
}

type Ending =
  | { kind: 'callback'; body: unknown; at: string; allowed: string }
  | { kind: 'timeout'; now: number }
  | { kind: 'discard' };

export function createCallbacks(
  cfg: CallbacksConfig,
  redis: RedisClient,
  clock: () => number = Date.now,
) {
  const keys = tokenKeysFrom(cfg);
  const store = createCallbackStore(redis, { prefix: cfg.BULLMQ_PREFIX, queue: cfg.INVOKE_QUEUE });
  const publicBase = cfg.INVOKE_PUBLIC_URL?.replace(/\/+$/, '');
  let writer: WriteResult | undefined;

  /** Cluster: save, then emit (result-writer's order), then mark the step finished. */
  async function finishPending(jobId: string, p: Pending): Promise<void> {
    if (p.event) {
      writer ??= createResultWriter(redis, cfg);
      await writer({ runId: p.runId, variable: p.variable, envelope: p.envelope, event: p.event });
    }
    await store.finalize(jobId, p.keepJob, p.expireAt);
  }

  /** Applies one ending to the record as read; the SETTLE script's reply ('ok' or why not). */
  async function settle(jobId: string, rec: WaitRecord, ending: Ending): Promise<string> {
    const job = JSON.parse(rec.job!) as InvokeJob;
    const meta = JSON.parse(rec.meta!) as CallMeta;
    const now = clock();
    const hold = ending.kind === 'timeout' && job.onFailure === 'hold';
    const envelope: Envelope =
      ending.kind === 'callback'
        ? completedEnvelope(job, meta, ending.body, ending.at, new Date(now))
        : ending.kind === 'timeout'
          ? timeoutEnvelope(job, meta, new Date(now))
          : discardedEnvelope(job, meta, rec.state === 'h', new Date(now));
    const event = buildEvent(job, jobId, envelope);
    const settlement: Settlement = {
      jobId,
      gen: rec.gen,
      allowed: ending.kind === 'callback' ? ending.allowed : ending.kind === 'timeout' ? 'w' : 'wh',
      dueBy: ending.kind === 'timeout' ? ending.now : undefined,
      newState:
        ending.kind === 'callback' ? 'd' : ending.kind === 'discard' ? 'x' : hold ? 'h' : 't',
      // A held step saves and emits nothing, like any held failure (contract section 3).
      save: hold
        ? undefined
        : {
            ctxKey: contextKey(cfg.INVOKE_CTX_PREFIX, job.runId),
            field: job.save.variable,
            envelope: JSON.stringify(envelope),
            ttlSeconds: cfg.INVOKE_CTX_TTL_SECONDS,
          },
      emit: hold
        ? undefined
        : {
            stream: cfg.INVOKE_EVENTS_STREAM,
            maxLen: cfg.INVOKE_EVENTS_MAXLEN,
            fields: eventFields(event),
          },
      expireAt: hold
        ? now + cfg.INVOKE_RETAIN_FAILED_SECONDS * 1000
        : Math.max(rec.ts + HORIZON_MS, now + DAY_MS),
      keepJob: hold,
    };
    if (!store.cluster) return store.settle(settlement);
    const pending: Pending = {
      runId: job.runId,
      variable: job.save.variable,
      envelope,
      event: hold ? undefined : event,
      keepJob: hold,
      expireAt: settlement.expireAt,
    };
    const reply = await store.decide(settlement, JSON.stringify(pending), now);
    // Decided: the writes follow; if they fail the sweeper makes them again (the step is due).
    if (reply === 'ok') await finishPending(jobId, pending).catch(() => undefined);
    return reply;
  }

  /**
   * Completes a waiting step with a callback's body, or with the early callback kept in the
   * record (the first one wins: then this caller's is a repeat).
   */
  async function completeWaiting(
    jobId: string,
    gen: number | undefined,
    body: unknown,
    at: string,
    allowed = 'w',
  ): Promise<CallbackResult> {
    const rec = await store.read(jobId);
    if (!rec) return 'gone';
    if (gen !== undefined && rec.gen !== gen) return rec.gen > gen ? 'gone' : 'unknown';
    const state = rec.state === 'p' ? rec.finalState : rec.state;
    if (!state || !allowed.includes(state)) return state === 'd' ? 'repeat' : 'gone';
    const early = rec.earlyBody !== undefined;
    const reply = await settle(
      jobId,
      rec,
      early
        ? { kind: 'callback', body: parseJsonOrText(rec.earlyBody!), at: rec.earlyAt!, allowed }
        : { kind: 'callback', body, at, allowed },
    );
    if (reply === 'ok') return early ? 'repeat' : 'first';
    return reply === 'd' ? 'repeat' : 'gone';
  }

  return {
    store,
    /** False without INVOKE_CALLBACK_KEY or INVOKE_SECRETS_KEY: steps with wait cannot run. */
    enabled: keys !== undefined,

    /** The token (and URL, with INVOKE_PUBLIC_URL) of one generation of one job. */
    tokenFor(claim: CallbackClaim): { token: string; url: string | undefined } {
      if (!keys) throw new Error('no callback key configured');
      const token = sealToken(keys, claim);
      return { token, url: publicBase ? `${publicBase}/v1/callbacks/${token}` : undefined };
    },

    /** After the call succeeded: the step waits until its deadline. Settles an early callback at once. */
    async wait(
      jobId: string,
      a: { ts: number; gen: number; job: InvokeJob; envelope: Envelope; timeoutMs: number },
    ): Promise<string> {
      const now = clock();
      const deadline = now + a.timeoutMs;
      const reply = await store.arm(jobId, {
        gen: a.gen,
        ts: a.ts,
        deadline,
        job: JSON.stringify(a.job),
        meta: JSON.stringify(metaOf(a.envelope)),
        now,
        // A safety net only: a record outlives its deadline by a week unless settled before.
        expireAt: deadline + 7 * DAY_MS,
      });
      // If this fails the record stays due "now" and the sweeper settles it within a second.
      if (reply === 'early')
        await completeWaiting(jobId, a.gen, undefined, '').catch(() => undefined);
      return reply;
    },

    /** POST /v1/callbacks/{token} and the client's complete(). */
    async complete(token: string, body: unknown): Promise<CallbackResult> {
      const claim = keys ? openToken(keys, token) : undefined;
      if (!claim) return 'unknown';
      const now = clock();
      const at = new Date(now).toISOString();
      const reply = await store.callback(claim.jobId, {
        gen: claim.gen,
        ts: claim.ts,
        body: JSON.stringify(body ?? null),
        at,
        expireAt: claim.ts + HORIZON_MS,
        now,
      });
      if (reply === 'stored') return 'first';
      if (reply !== 'waiting') return reply;
      return completeWaiting(claim.jobId, claim.gen, body, at);
    },

    /** Settles what is due: deadlines passed (CALLBACK_TIMEOUT) and early callbacks pending. */
    async sweep(limit = 200): Promise<number> {
      const now = clock();
      const due = await store.due(now, limit);
      await Promise.all(
        due.map(async (jobId) => {
          const rec = await store.read(jobId);
          if (rec?.state === 'p' && rec.pending)
            return finishPending(jobId, JSON.parse(rec.pending) as Pending);
          if (!rec || rec.state !== 'w') return void (await store.forget(jobId));
          if (rec.earlyBody !== undefined) await completeWaiting(jobId, rec.gen, undefined, '');
          else await settle(jobId, rec, { kind: 'timeout', now });
        }),
      );
      return due.length;
    },

    /** Operators: complete a waiting or held step with a body of their own. */
    async completeStep(jobId: string, body: unknown): Promise<StepActionResult> {
      const r = await completeWaiting(
        jobId,
        undefined,
        body,
        new Date(clock()).toISOString(),
        'wh',
      );
      return r === 'first' ? { done: true } : { done: false, reason: await reasonFor(jobId) };
    },

    /** Operators: end a waiting or held step with DISCARDED (invoke.failed). */
    async discardStep(jobId: string): Promise<StepActionResult> {
      const rec = await store.read(jobId);
      if (!rec || !rec.job)
        return { done: false, reason: rec ? stateName(rec.state) : 'not waiting' };
      const reply = await settle(jobId, rec, { kind: 'discard' });
      return reply === 'ok' ? { done: true } : { done: false, reason: await reasonFor(jobId) };
    },

    /**
     * Operators: the step goes back to calling under a new generation (every earlier token is
     * gone); the caller enqueues the returned job again, which renders a new token.
     */
    async reopenStep(jobId: string): Promise<{ job: InvokeJob } | { reason: string }> {
      const rec = await store.read(jobId);
      if (!rec) return { reason: 'not waiting' };
      const r = await store.retry(jobId, rec.gen, clock() + HORIZON_MS);
      return typeof r === 'string'
        ? { reason: r === 'missing' || r === 'gen' ? 'changed meanwhile' : stateName(r) }
        : { job: JSON.parse(r.job) as InvokeJob };
    },
  };

  async function reasonFor(jobId: string): Promise<string> {
    const rec = await store.read(jobId);
    return rec ? stateName(rec.state) : 'not waiting';
  }
}

export type Callbacks = ReturnType<typeof createCallbacks>;
