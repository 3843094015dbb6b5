/**
 * Typed calls into the destination Lua scripts (scripts.ts) and the key layout. The store
 * decides nothing itself: it passes the host's policy in and returns the script's verdict.
 */
import type { RedisClient } from '../redis.js';
import type { Breaker, HostPolicy } from './policy.js';
import { ACQUIRE, RECORD, RELEASE, SET_STATE } from './scripts.js';

/** How long a host's state outlives its last call (breaker window, pause, schedule). */
const STATE_TTL_MS = 24 * 3600 * 1000;

/** `<prefix>:dest:{<host>}`: the host is the hash tag, so its keys share one Cluster slot. */
export function hostKeys(prefix: string, host: string): [string, string, string, string] {
  const base = `${prefix}:dest:{${host}}`;
  return [base, `${base}:leases`, `${base}:resv`, `${base}:calls`];
}

/** Every host seen (score = last seen ms), for the admin list and metrics. */
export const registryKey = (prefix: string) => `${prefix}:dest:hosts`;

export type Verdict =
  | { go: true; probe: boolean }
  | {
      go: false;
      reason: 'paused' | 'open' | 'probing' | 'busy' | 'reserved' | 'no-slot';
      waitMs: number;
    };

const REASONS = ['paused', 'open', 'probing', 'busy', 'reserved', 'no-slot'] as const;

export type CallKind = 'ok' | 'fail' | 'neutral';

export interface Recorded {
  state: 'closed' | 'open' | 'half';
  transition: 'opened' | 'closed' | '';
}

type Fn = (...args: (string | number)[]) => Promise<unknown>;

/** Registers the scripts once per connection (ioredis runs EVALSHA, falling back to EVAL). */
function commands(
  redis: RedisClient,
): Record<'destAcquire' | 'destRelease' | 'destRecord' | 'destSetState', Fn> {
  const r = redis as unknown as Record<string, Fn> & {
    defineCommand(n: string, d: { numberOfKeys: number; lua: string }): void;
  };
  if (typeof r.destAcquire !== 'function') {
    r.defineCommand('destAcquire', { numberOfKeys: 4, lua: ACQUIRE });
    r.defineCommand('destRelease', { numberOfKeys: 4, lua: RELEASE });
    r.defineCommand('destRecord', { numberOfKeys: 4, lua: RECORD });
    r.defineCommand('destSetState', { numberOfKeys: 4, lua: SET_STATE });
  }
  return r as unknown as ReturnType<typeof commands>;
}

export function createDestinationStore(redis: RedisClient, prefix: string) {
  const cmd = commands(redis);
  const keys = (host: string) => hostKeys(prefix, host);

  return {
    async acquire(
      host: string,
      p: HostPolicy,
      a: { leaseId: string; jobId: string; leaseMs: number; maxWaitMs: number },
    ): Promise<Verdict> {
      const [code, waitMs, probe] = (await cmd.destAcquire(
        ...keys(host),
        a.leaseId,
        a.jobId,
        p.ratePerSecond,
        p.burst,
        p.maxConcurrent,
        Math.ceil(a.leaseMs),
        Math.max(0, Math.floor(a.maxWaitMs)),
        STATE_TTL_MS,
      )) as number[];
      if (code === 0) return { go: true, probe: probe === 1 };
      return { go: false, reason: REASONS[(code ?? 1) - 1]!, waitMs: Number(waitMs) };
    },

    /** Frees the slot; with refundJobId the permit was not used and the job keeps its rate slot. */
    async release(host: string, leaseId: string, refundJobId = ''): Promise<void> {
      await cmd.destRelease(...keys(host), leaseId, refundJobId);
    },

    /** One finished call, after `okBefore` earlier successes not recorded yet (batched by the guard). */
    async record(
      host: string,
      breaker: Breaker | false,
      r: { leaseId: string; kind: CallKind; pauseMs: number; okBefore?: number },
    ): Promise<Recorded> {
      const b = breaker || {
        consecutiveFailures: 0,
        failureRatio: 1,
        minCalls: 1,
        windowMs: 60_000,
        openMs: 30_000,
      };
      const [state, transition] = (await cmd.destRecord(
        ...keys(host),
        r.leaseId,
        r.kind,
        Math.max(0, Math.round(r.pauseMs)),
        breaker ? 1 : 0,
        b.consecutiveFailures,
        b.failureRatio,
        b.minCalls,
        b.windowMs,
        b.openMs,
        STATE_TTL_MS,
        r.okBefore ?? 0,
      )) as string[];
      return {
        state: state as Recorded['state'],
        transition: (transition ?? '') as Recorded['transition'],
      };
    },

    /** Operator: open (forMs < 0 = until closed by hand) or close a host's breaker. */
    async setState(host: string, state: 'open' | 'closed', forMs = -1): Promise<void> {
      await cmd.destSetState(...keys(host), state, forMs);
      await redis.zadd(registryKey(prefix), Date.now(), host);
    },

    /** Remember the host for listing; callers throttle this (one ZADD per host per minute). */
    async register(host: string): Promise<void> {
      await redis.zadd(registryKey(prefix), Date.now(), host);
    },
  };
}

export type DestinationStore = ReturnType<typeof createDestinationStore>;
