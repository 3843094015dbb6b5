/**
 * Start-up gate: is Redis there? A probe connection pings until INVOKE_REDIS_STARTUP_GRACE_MS
 * (Redis may start alongside us, as in docker compose); one warning when the first attempt
 * fails, and the last error's code is kept so the final line can name the cause.
 */
import type { Logger } from '../logger.js';
import { createRedis, type RedisSettings } from '../redis.js';
import { withTimeout } from '../lib/with-timeout.js';
import { redactUrl } from '../lib/redact-url.js';
import { explainRedisError } from './explain.js';

/** Resolves undefined when Redis answered, or the one line to print before exiting. */
export async function waitForRedis(
  cfg: RedisSettings,
  graceMs: number,
  logger: Pick<Logger, 'warn'>,
): Promise<string | undefined> {
  const probe = createRedis(cfg, 'startup');
  let reason: string | undefined;
  let warned = false;
  probe.on('error', (err: Error & { code?: string }) => {
    reason = err.code ?? err.message;
    if (warned) return;
    warned = true;
    logger.warn({ redis: redactUrl(cfg.REDIS_URL), reason, graceMs }, 'waiting for Redis');
  });
  // A refusal (NOAUTH, WRONGPASS) rejects the ping instead of raising 'error'.
  const ping = probe.ping();
  ping.catch((err: Error) => (reason = err.message));
  const up = await withTimeout(ping, graceMs);
  probe.disconnect();
  return up ? undefined : explainRedisError(cfg.REDIS_URL, reason, cfg.REDIS_SENTINELS);
}
