/**
 * Redis connections from config: a single node (REDIS_URL), a Cluster (REDIS_CLUSTER_NODES) or
 * Sentinel (REDIS_SENTINELS). BullMQ workers need maxRetriesPerRequest: null, and it also makes
 * our own writes wait through an outage instead of being dropped (ioredis queues them offline
 * and replays them on reconnect), which is what "the result is saved once Redis is back" needs.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { SentinelRedis } from './redis-sentinel.js';

export type RedisClient = Redis | Cluster;

const hostPort = (s: string) => {
  const [host, port] = s.split(':');
  return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
};

/**
 * Credentials and TLS from REDIS_URL, for Cluster and Sentinel too: without them a Cluster or
 * Sentinel deployment with AUTH or TLS could not be configured at all.
 */
function authFromUrl(redisUrl: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const url = new URL(redisUrl);
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Where Redis is and how to reach it: what every connection is made from. */
export type RedisSettings = Pick<
  Config,
  'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'
> &
  Partial<
    Pick<Config, 'REDIS_SENTINEL_USERNAME' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_SENTINEL_TLS'>
  >;

export function createRedis(cfg: RedisSettings, name: string): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `invoke-api:${name}`,
    retryStrategy: (n) => Math.min(n * 200, 2000),
    // A master demoted by a failover answers writes with READONLY: reconnect (to the new master)
    // and re-send the command instead of failing it.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  const client = connect(cfg, options);
  // Every connection has an 'error' listener from birth: without one ioredis prints "Unhandled
  // error event" with the raw error on each reconnect attempt. Outages are reported once, by
  // watchConnection (logs) and /readyz, not per attempt.
  client.on('error', () => undefined);
  return client;
}

function connect(cfg: RedisSettings, options: RedisOptions): RedisClient {
  if (cfg.REDIS_CLUSTER_NODES?.length) {
    const redisOptions = { ...options, ...authFromUrl(cfg.REDIS_URL) };
    return new Cluster(cfg.REDIS_CLUSTER_NODES.map(hostPort), {
      redisOptions,
      enableReadyCheck: true,
      clusterRetryStrategy: (n) => Math.min(n * 200, 2000),
    });
  }
  if (cfg.REDIS_SENTINELS?.length) return sentinelRedis(cfg, options);
  return new Redis(cfg.REDIS_URL, options);
}

/** Exported for the switch test, which shortens the reconnect delay to widen the race it checks. */
export function sentinelRedis(
  cfg: Omit<RedisSettings, 'REDIS_CLUSTER_NODES'>,
  options: RedisOptions,
): Redis {
  const master = authFromUrl(cfg.REDIS_URL);
  // Follows +switch-master at once (redis-sentinel.ts says why not ioredis's failoverDetector).
  return new SentinelRedis({
    ...options,
    ...master,
    // ioredis reaches the master in plain text, whatever `tls` says, unless this is set.
    ...(master.tls ? { enableTLSForSentinelMode: true } : {}),
    sentinels: (cfg.REDIS_SENTINELS ?? []).map(hostPort),
    name: cfg.REDIS_SENTINEL_NAME,
    sentinelAccess: {
      username: cfg.REDIS_SENTINEL_USERNAME,
      password: cfg.REDIS_SENTINEL_PASSWORD,
      tls: cfg.REDIS_SENTINEL_TLS ? {} : undefined,
    },
  });
}

export const isCluster = (r: RedisClient): r is Cluster => r instanceof Cluster;

/**
 * Makes an outage visible: one warning when a connection starts reconnecting, one info line
 * with the outage length when it is ready again. The 'error' listener also stops ioredis
 * printing "Unhandled error event" to stderr on every reconnect attempt.
 */
export function watchConnection(
  client: RedisClient,
  name: string,
  logger: Pick<Logger, 'warn' | 'info' | 'debug'>,
): void {
  let downSince: number | undefined;
  let everReady = false;
  client.on('reconnecting', () => {
    // Never connected yet: the start-up gate (startup/wait-for-redis.ts) reports that, once.
    if (downSince !== undefined || !everReady) return;
    downSince = Date.now();
    logger.warn({ connection: name }, 'redis connection lost; reconnecting');
  });
  client.on('ready', () => {
    everReady = true;
    if (downSince === undefined) return;
    logger.info(
      { connection: name, outageMs: Date.now() - downSince },
      'redis connection restored',
    );
    downSince = undefined;
  });
  client.on('error', (err: Error & { code?: string }) =>
    logger.debug({ connection: name, code: err.code }, 'redis connection error'),
  );
}
