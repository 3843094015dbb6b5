/** The step response cache from a Config (contract v1.1 section 6.4): store + stage. */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis.js';
import { createCacheStore } from './store.js';
import { createResponseCache, type ResponseCache } from './response-cache.js';

export type CacheConfig = Pick<
  Config,
  | 'INVOKE_CACHE_PREFIX'
  | 'INVOKE_CACHE_MAX_BYTES'
  | 'INVOKE_CACHE_MAX_ENTRIES'
  | 'INVOKE_CACHE_MAX_ENTRY_BYTES'
  | 'INVOKE_DEFAULT_TIMEOUT_MS'
>;

export function createResponseCacheFor(
  redis: RedisClient,
  cfg: CacheConfig,
  logger: Pick<Logger, 'warn'>,
): ResponseCache {
  const store = createCacheStore(redis, cfg.INVOKE_CACHE_PREFIX);
  return createResponseCache(store, {
    prefix: cfg.INVOKE_CACHE_PREFIX,
    budget: { maxBytes: cfg.INVOKE_CACHE_MAX_BYTES, maxEntries: cfg.INVOKE_CACHE_MAX_ENTRIES },
    maxEntryBytes: cfg.INVOKE_CACHE_MAX_ENTRY_BYTES,
    defaultTimeoutMs: cfg.INVOKE_DEFAULT_TIMEOUT_MS,
    // Only the error's name: an ioredis message can quote the command's arguments (the value).
    onError: (what, err) => logger.warn({ err: { name: (err as Error)?.name } }, what),
  });
}
