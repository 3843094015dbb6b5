/**
 * Waits until what a caller has seen on the master is on N replicas (Redis WAIT), so the callback
 * route answers 202/200 only for a completion that survives a failover (docs/callbacks.md#failover).
 *
 * One round is `SET <fence>` then `WAIT n timeoutMs`, pipelined on this one connection. WAIT is
 * documented to cover the connection's own earlier writes; a repeat (200) wrote nothing, and
 * its completion may have been made on another connection (another process, an operator). The fence is
 * a write made after everything the round's callers saw, so the round covers all of it,
 * whatever a given Redis version does with a connection's reads.
 *
 * WAIT blocks the whole connection inside Redis, so rounds are coalesced: at most one is in
 * flight; callers that arrive meanwhile join the next one, sent when the in-flight one returns.
 * Every joiner's reads and writes were answered before it joined, hence before the next round's
 * fence: that round covers all of them. A connection that closed between a join and the reply
 * may now be on another master (a failover), where the fence says nothing about the caller's
 * writes: such a round does not confirm.
 */
import type { Logger } from '../logger.js';
import { isCluster, type RedisClient } from '../redis.js';

export type WaitResult = 'ok' | 'short' | 'error';

export interface ReplicaBarrierOptions {
  replicas: number;
  timeoutMs: number;
  /** A key under the service's prefix (its ACL covers it); SET with a short expiry, so nothing stays. */
  fenceKey: string;
  logger: Pick<Logger, 'warn'>;
  onResult?: (result: WaitResult) => void;
}

/** A WAIT normally returns by its own timeout; this much more means the connection is stuck. */
const STUCK_SLACK_MS = 2000;
const FENCE_TTL_MS = 60_000;

interface Round {
  promise: Promise<boolean>;
  resolve(ok: boolean): void;
  closesAtJoin: number;
}

export function createReplicaBarrier(redis: RedisClient, opts: ReplicaBarrierOptions) {
  // Per-shard WAIT would confirm one slot's writes, not a callback's (config.ts refuses it).
  if (isCluster(redis)) throw new Error('INVOKE_CALLBACK_MIN_REPLICAS needs a single master');
  const conn = redis;
  let closes = 0;
  conn.on('close', () => closes++);
  let inFlight = false;
  let queued: Round | undefined;

  function newRound(): Round {
    let resolve!: (ok: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    return { promise, resolve, closesAtJoin: closes };
  }

  async function waitOnce(): Promise<{ result: WaitResult; acked: number }> {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('stuck')), opts.timeoutMs + STUCK_SLACK_MS);
    });
    try {
      const fence = conn.set(opts.fenceKey, '1', 'PX', FENCE_TTL_MS);
      const acked = await Promise.race([
        Promise.all([fence, conn.wait(opts.replicas, opts.timeoutMs)]).then(([, n]) => n),
        stuck,
      ]);
      return { result: acked >= opts.replicas ? 'ok' : 'short', acked };
    } catch {
      return { result: 'error', acked: 0 };
    } finally {
      clearTimeout(timer);
    }
  }

  function send(round: Round): void {
    inFlight = true;
    void waitOnce().then(({ result: waited, acked }) => {
      const result = waited === 'ok' && closes !== round.closesAtJoin ? 'error' : waited;
      opts.onResult?.(result);
      if (result !== 'ok')
        opts.logger.warn(
          { acked, wanted: opts.replicas, timeoutMs: opts.timeoutMs, result },
          'callback completion not acknowledged by enough replicas in time: answered 503',
        );
      round.resolve(result === 'ok');
      inFlight = false;
      if (queued) {
        const next = queued;
        queued = undefined;
        send(next);
      }
    });
  }

  return {
    /**
     * Resolves true once the replicas hold everything this caller saw on the connection (call it
     * after its commands were answered), false when fewer acknowledged in time. Never rejects.
     */
    confirm(): Promise<boolean> {
      if (inFlight) {
        queued ??= newRound();
        return queued.promise;
      }
      const round = newRound();
      send(round);
      return round.promise;
    },
  };
}

export type ReplicaBarrier = ReturnType<typeof createReplicaBarrier>;
