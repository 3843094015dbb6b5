/**
 * What POST /v1/callbacks/{token} runs on. By default the API's shared connection, as before.
 * With INVOKE_CALLBACK_MIN_REPLICAS, a connection of its own with the replica barrier on it:
 * WAIT blocks the connection it is sent on, so a slow replica then holds back callbacks only,
 * never the worker's, the API's or the operators' commands.
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedis, watchConnection, type RedisClient, type RedisSettings } from '../redis.js';
import { registerCallbackMetrics } from './metrics.js';
import { createReplicaBarrier, type ReplicaBarrier } from './replica-barrier.js';
import { createCallbacks, type Callbacks, type CallbacksConfig } from './service.js';

export type CallbackEndpointConfig = CallbacksConfig &
  RedisSettings &
  Pick<Config, 'INVOKE_CALLBACK_MIN_REPLICAS' | 'INVOKE_CALLBACK_REPLICA_TIMEOUT_MS'>;

export interface CallbackEndpoint {
  callbacks: Callbacks;
  /** Present when the route waits for replicas. */
  barrier: ReplicaBarrier | undefined;
  close(): Promise<void>;
}

export function createCallbackEndpoint(
  cfg: CallbackEndpointConfig,
  shared: RedisClient,
  logger: Logger,
  registry?: Registry,
): CallbackEndpoint {
  if (cfg.INVOKE_CALLBACK_MIN_REPLICAS === 0)
    return { callbacks: createCallbacks(cfg, shared), barrier: undefined, close: async () => {} };
  const redis = createRedis(cfg, 'callbacks');
  watchConnection(redis, 'callbacks', logger);
  warnWhenTooFewReplicas(redis, cfg.INVOKE_CALLBACK_MIN_REPLICAS, logger);
  const barrier = createReplicaBarrier(redis, {
    replicas: cfg.INVOKE_CALLBACK_MIN_REPLICAS,
    timeoutMs: cfg.INVOKE_CALLBACK_REPLICA_TIMEOUT_MS,
    fenceKey: `${cfg.BULLMQ_PREFIX}:${cfg.INVOKE_QUEUE}:cb-fence`,
    logger,
    onResult: registry ? registerCallbackMetrics(registry) : undefined,
  });
  return {
    callbacks: createCallbacks(cfg, redis),
    barrier,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Each time the route's connection is ready (at start, after a reconnect or a failover): with
 * fewer replicas connected than it waits for, every callback answers 503 until more connect,
 * which an operator should hear of before the partners do.
 */
function warnWhenTooFewReplicas(redis: RedisClient, wanted: number, logger: Logger): void {
  redis.on('ready', () => {
    redis.info('replication').then(
      (info) => {
        const connected = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
        if (connected >= wanted) return;
        logger.warn(
          { connectedReplicas: connected, wanted },
          'callback route waits for more replicas than the master has: callbacks answer 503 until INVOKE_CALLBACK_MIN_REPLICAS replicas are connected',
        );
      },
      () => undefined,
    );
  });
}
