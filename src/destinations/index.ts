/**
 * Destination limits for one worker process: policy from INVOKE_DESTINATIONS (a ConfigError
 * naming the bad field stops the process at start), its own Redis connection, and the
 * processor hooks to pass to createWorkerApp.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedis, type RedisClient, type RedisSettings } from '../redis.js';
import type { AttemptHooks } from '../queue/attempt-hooks.js';
import { createDestinationGuard } from './guard.js';
import { loadDestinationPolicy, type DestinationPolicy } from './policy.js';
import { createDestinationStore } from './store.js';
import type { DestinationEvent } from './breaker-feed.js';

export type { DestinationEvent } from './breaker-feed.js';

export interface Destinations {
  policy: DestinationPolicy;
  hooks: Required<AttemptHooks>;
  close(): Promise<void>;
}

type DestConfig = RedisSettings &
  Pick<Config, 'INVOKE_DESTINATIONS' | 'BULLMQ_PREFIX' | 'INVOKE_DEFAULT_TIMEOUT_MS'>;

export function createDestinations(
  cfg: DestConfig,
  logger: Logger,
  redis?: RedisClient,
  onEvent?: (e: DestinationEvent) => void,
): Destinations {
  const policy = loadDestinationPolicy(cfg.INVOKE_DESTINATIONS);
  const own = redis === undefined;
  const conn = redis ?? createRedis(cfg, 'destinations');
  const store = createDestinationStore(conn, cfg.BULLMQ_PREFIX);
  const guard = createDestinationGuard({
    policy,
    store,
    logger: logger.child({ component: 'destinations' }),
    defaultTimeoutMs: cfg.INVOKE_DEFAULT_TIMEOUT_MS,
    onEvent,
  });
  return {
    policy,
    hooks: { beforeCall: guard.beforeCall, observers: [guard.observe] },
    async close() {
      await guard.flush();
      if (own) await conn.quit().catch(() => conn.disconnect());
    },
  };
}

export { loadDestinationPolicy } from './policy.js';
