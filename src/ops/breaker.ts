/**
 * A breaker opened or closed by hand, told to the operations stream like one the workers moved:
 * an alert that fired on breaker.opened resolves on the operator's breaker.closed, and a pause
 * lifted by hand ends with host.resumed. The events carry `by: "operator"`.
 */
import type { Config } from '../config.js';
import { closeBreaker, hostStatus, openBreaker, type HostStatus } from '../destinations/admin.js';
import type { Logger } from '../logger.js';
import { createOpsEvents, type OpsEvent } from '../ops-events/index.js';
import type { RedisClient } from '../redis.js';

type BreakerConfig = Parameters<typeof createOpsEvents>[0] & Pick<Config, 'BULLMQ_PREFIX'>;

async function tell(
  cfg: BreakerConfig,
  logger: Logger,
  redis: RedisClient,
  events: OpsEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const stream = createOpsEvents(cfg, logger, redis);
  try {
    for (const e of events) await stream.emitter.emit(e);
  } finally {
    await stream.close();
  }
}

/** Opens host's breaker (for forMs, or until closed) and emits breaker.opened. */
export async function openBreakerByHand(
  cfg: BreakerConfig,
  logger: Logger,
  redis: RedisClient,
  host: string,
  forMs?: number,
): Promise<HostStatus> {
  const s = await openBreaker(redis, cfg.BULLMQ_PREFIX, host, forMs);
  await tell(cfg, logger, redis, [
    { type: 'breaker.opened', host: s.host, openMs: forMs ?? null, by: 'operator' },
  ]);
  return s;
}

/** Closes host's breaker and lifts its pause; emits breaker.closed and host.resumed for what was on. */
export async function closeBreakerByHand(
  cfg: BreakerConfig,
  logger: Logger,
  redis: RedisClient,
  host: string,
): Promise<HostStatus> {
  const before = await hostStatus(redis, cfg.BULLMQ_PREFIX, host, Date.now());
  const s = await closeBreaker(redis, cfg.BULLMQ_PREFIX, host);
  const events: OpsEvent[] = [];
  if (before.breaker !== 'closed')
    events.push({ type: 'breaker.closed', host: s.host, by: 'operator' });
  if (before.pausedUntil) events.push({ type: 'host.resumed', host: s.host, by: 'operator' });
  await tell(cfg, logger, redis, events);
  return s;
}
