/**
 * The Redis side of waiting steps: key names and one typed function per Lua transition
 * (scripts.ts), plus the reads the sweeper and operators need. Keys share the queue's prefix,
 * so with a hash-tagged BULLMQ_PREFIX ({bull}) a record and the deadline set sit in one
 * Cluster slot, as the scripts require.
 */
import { isCluster, type RedisClient } from '../redis.js';
import { ARM, CALLBACK, DECIDE, FINALIZE, RETRY, SETTLE } from './scripts.js';

export type StepState = 'c' | 'w' | 'd' | 't' | 'h' | 'x' | 'p';

export interface WaitRecord {
  state: StepState;
  gen: number;
  ts: number;
  deadline: number | undefined;
  job: string | undefined;
  meta: string | undefined;
  earlyBody: string | undefined;
  earlyAt: string | undefined;
  /** Cluster only: the writes still to make for a decided step (JSON), and its final state. */
  pending: string | undefined;
  finalState: StepState | undefined;
}

export interface CallbackKeys {
  prefix: string;
  queue: string;
}

export type ArmReply = 'armed' | 'early' | 'already' | 'stale';
export type CallbackReply = 'stored' | 'waiting' | 'repeat' | 'gone' | 'unknown';

/** One SETTLE: what the caller read (gen), what it allows, and what to write. */
export interface Settlement {
  jobId: string;
  gen: number;
  allowed: string;
  dueBy: number | undefined;
  newState: StepState;
  save: { ctxKey: string; field: string; envelope: string; ttlSeconds: number } | undefined;
  emit: { stream: string; maxLen: number; fields: string[] } | undefined;
  expireAt: number;
  keepJob: boolean;
}

type Scripts = {
  invokeCbArm(rec: string, zset: string, ...args: (string | number)[]): Promise<ArmReply>;
  invokeCbCallback(rec: string, ...args: (string | number)[]): Promise<CallbackReply>;
  invokeCbSettle(
    rec: string,
    zset: string,
    ctx: string,
    stream: string,
    ...args: (string | number)[]
  ): Promise<string>;
  invokeCbRetry(rec: string, zset: string, ...args: (string | number)[]): Promise<string[]>;
  invokeCbDecide(rec: string, zset: string, ...args: (string | number)[]): Promise<string>;
  invokeCbFinalize(rec: string, zset: string, ...args: (string | number)[]): Promise<string>;
};

/** How long a decided step waits for its writes before the sweeper makes them (Cluster). */
const PENDING_RETRY_MS = 30_000;

export function createCallbackStore(redis: RedisClient, keys: CallbackKeys) {
  redis.defineCommand('invokeCbArm', { numberOfKeys: 2, lua: ARM });
  redis.defineCommand('invokeCbCallback', { numberOfKeys: 1, lua: CALLBACK });
  redis.defineCommand('invokeCbSettle', { numberOfKeys: 4, lua: SETTLE });
  redis.defineCommand('invokeCbRetry', { numberOfKeys: 2, lua: RETRY });
  redis.defineCommand('invokeCbDecide', { numberOfKeys: 2, lua: DECIDE });
  redis.defineCommand('invokeCbFinalize', { numberOfKeys: 2, lua: FINALIZE });
  const cluster = isCluster(redis);
  const lua = redis as unknown as Scripts;
  const base = `${keys.prefix}:${keys.queue}:cb`;
  const recordKey = (jobId: string) => `${base}:${jobId}`;
  const deadlines = `${base}-deadlines`;

  return {
    deadlinesKey: deadlines,
    recordKey,

    /** The generation a new token gets: the record's, when it belongs to this enqueue of the job. */
    async generation(jobId: string, ts: number): Promise<number> {
      const [rts, g] = await redis.hmget(recordKey(jobId), 'ts', 'g');
      return rts !== null && Number(rts) === ts ? Number(g) : 0;
    },

    arm(
      jobId: string,
      a: {
        gen: number;
        ts: number;
        deadline: number;
        job: string;
        meta: string;
        now: number;
        expireAt: number;
      },
    ): Promise<ArmReply> {
      return lua.invokeCbArm(
        recordKey(jobId),
        deadlines,
        a.gen,
        a.ts,
        a.deadline,
        a.job,
        a.meta,
        a.now,
        a.expireAt,
        jobId,
      );
    },

    callback(
      jobId: string,
      a: { gen: number; ts: number; body: string; at: string; expireAt: number; now: number },
    ): Promise<CallbackReply> {
      return lua.invokeCbCallback(recordKey(jobId), a.gen, a.ts, a.body, a.at, a.expireAt, a.now);
    },

    /** Cluster: the context and stream are in other slots, so settling is decide, write, finalize. */
    cluster,

    decide(s: Settlement, pending: string, now: number): Promise<string> {
      return lua.invokeCbDecide(
        recordKey(s.jobId),
        deadlines,
        s.gen,
        s.allowed,
        s.dueBy ?? '',
        s.newState,
        s.jobId,
        pending,
        now + PENDING_RETRY_MS,
      );
    },

    finalize(jobId: string, keepJob: boolean, expireAt: number): Promise<string> {
      return lua.invokeCbFinalize(
        recordKey(jobId),
        deadlines,
        jobId,
        keepJob ? '1' : '0',
        expireAt,
      );
    },

    settle(s: Settlement): Promise<string> {
      const rec = recordKey(s.jobId);
      return lua.invokeCbSettle(
        rec,
        deadlines,
        s.save?.ctxKey ?? rec,
        s.emit?.stream ?? rec,
        s.gen,
        s.allowed,
        s.dueBy ?? '',
        s.newState,
        s.jobId,
        s.save?.field ?? '',
        s.save?.envelope ?? '',
        s.save?.ttlSeconds ?? 0,
        s.emit?.maxLen ?? '',
        s.expireAt,
        s.keepJob ? '1' : '0',
        ...(s.emit?.fields ?? []),
      );
    },

    async retry(
      jobId: string,
      gen: number,
      expireAt: number,
    ): Promise<{ gen: number; job: string } | string> {
      const [why, g, job] = await lua.invokeCbRetry(
        recordKey(jobId),
        deadlines,
        gen,
        jobId,
        expireAt,
      );
      return why === 'ok' ? { gen: Number(g), job: job! } : why!;
    },

    async read(jobId: string): Promise<WaitRecord | undefined> {
      const h = await redis.hgetall(recordKey(jobId));
      if (!h.s) return undefined;
      return {
        state: h.s as StepState,
        gen: Number(h.g),
        ts: Number(h.ts),
        deadline: h.dl === undefined ? undefined : Number(h.dl),
        job: h.j,
        meta: h.m,
        earlyBody: h.b,
        earlyAt: h.ca,
        pending: h.pw,
        finalState: h.pf as StepState | undefined,
      };
    },

    /** Members due by `now` (deadline passed, or an early callback pending), oldest first. */
    due(now: number, limit: number): Promise<string[]> {
      return redis.zrangebyscore(deadlines, '-inf', now, 'LIMIT', 0, limit);
    },

    /** How many steps wait for a callback, and how many timed out and are held. */
    async counts(): Promise<{ waiting: number; held: number }> {
      const [waiting, held] = await Promise.all([
        redis.zcount(deadlines, '-inf', '(+inf'),
        redis.zcount(deadlines, '+inf', '+inf'),
      ]);
      return { waiting, held };
    },

    /** Waiting (then held) steps by deadline, soonest first; deadline null for a held one. */
    async list(
      offset: number,
      limit: number,
    ): Promise<{ jobId: string; deadline: number | null }[]> {
      const flat = await redis.zrange(
        deadlines,
        String(offset),
        String(offset + limit - 1),
        'WITHSCORES',
      );
      const items: { jobId: string; deadline: number | null }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const score = Number(flat[i + 1]);
        items.push({ jobId: flat[i]!, deadline: Number.isFinite(score) ? score : null });
      }
      return items;
    },

    /** A member whose record is gone (expired): nothing left to settle. */
    forget(jobId: string): Promise<number> {
      return redis.zrem(deadlines, jobId);
    },
  };
}

export type CallbackStore = ReturnType<typeof createCallbackStore>;
