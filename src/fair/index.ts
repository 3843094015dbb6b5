/**
 * Fair share for one worker process (docs/fair-share.md): the admitter that feeds BullMQ's wait
 * list from the fair index, and the tenant limits hook (INVOKE_TENANTS; a ConfigError naming the
 * bad field stops the process at start). Producers enter the index through intake.ts.
 */
import type { Worker } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedis, type RedisClient, type RedisSettings } from '../redis.js';
import { createDestinationStore } from '../destinations/store.js';
import type { BeforeCall } from '../queue/attempt-hooks.js';
import { withTimeout } from '../lib/with-timeout.js';
import { createAdmitter } from './admitter.js';
import { createTenantLimits, type TenantLimited } from './limits.js';
import { loadTenantPolicy, type TenantPolicy } from './policy.js';
import { createFairStore } from './store.js';

type FairConfig = RedisSettings &
  Pick<
    Config,
    | 'INVOKE_TENANTS'
    | 'BULLMQ_PREFIX'
    | 'INVOKE_QUEUE'
    | 'INVOKE_CONCURRENCY'
    | 'INVOKE_DEFAULT_TIMEOUT_MS'
  >;

export interface FairShare {
  policy: TenantPolicy;
  /** The tenant limits stage, to run before the destination's. */
  beforeCall: BeforeCall;
  /** Starts admission for this worker; every worker process must run it. */
  start(worker: Worker): Promise<void>;
  close(): Promise<void>;
}

export function createFairShare(
  cfg: FairConfig,
  logger: Logger,
  redis?: RedisClient,
  onLimited?: TenantLimited,
): FairShare {
  const policy = loadTenantPolicy(cfg.INVOKE_TENANTS);
  const conn = redis ?? createRedis(cfg, 'fair');
  const store = createFairStore(conn, cfg.BULLMQ_PREFIX, cfg.INVOKE_QUEUE);
  const log = logger.child({ component: 'fair-share' });
  const admitter = createAdmitter({ store, slots: cfg.INVOKE_CONCURRENCY, logger: log });
  const beforeCall = createTenantLimits({
    policy,
    limits: createDestinationStore(conn, cfg.BULLMQ_PREFIX),
    fair: store,
    defaultTimeoutMs: cfg.INVOKE_DEFAULT_TIMEOUT_MS,
    onLimited,
  });
  return {
    policy,
    beforeCall,
    async start(worker) {
      worker.on('completed', admitter.nudge);
      worker.on('failed', admitter.nudge);
      const w = policy.weights();
      await store.setWeights(w.fallback, w.own);
      await admitter.start();
    },
    async close() {
      // Bounded: with Redis unreachable, the leaving beat would wait for it forever.
      await withTimeout(admitter.stop(), 1000);
      if (redis) return;
      if (
        !(await withTimeout(
          conn.quit().then(
            () => true,
            () => false,
          ),
          1000,
        ))
      )
        conn.disconnect();
    },
  };
}

export { loadTenantPolicy } from './policy.js';
export type { TenantLimited } from './limits.js';
