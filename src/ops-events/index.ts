/**
 * The operations stream for one process, built from config: the emitter (stream + dedup), the
 * webhook when INVOKE_OPS_WEBHOOK_URL is set, and the two sources to plug in (the processor
 * observer, the destinations' onEvent).
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createRedis, type RedisClient, type RedisSettings } from '../redis.js';
import { createHttpClient, type HttpConfig } from '../http/call.js';
import { createOpsEmitter } from './emitter.js';
import { destinationEventSource, jobEventsObserver } from './sources.js';
import { createWebhookDelivery } from './webhook.js';
import { tenantLimited } from './events.js';

export type OpsEventsConfig = HttpConfig &
  Pick<
    Config,
    | 'INVOKE_OPS_STREAM'
    | 'INVOKE_OPS_MAXLEN'
    | 'INVOKE_OPS_DEDUP_SECONDS'
    | 'INVOKE_OPS_WEBHOOK_URL'
    | 'INVOKE_OPS_WEBHOOK_SECRET'
  > &
  RedisSettings;

/** Pass `shared` to use a connection; otherwise the stream gets (and closes) its own. */
export function createOpsEvents(cfg: OpsEventsConfig, logger: Logger, shared?: RedisClient) {
  const redis = shared ?? createRedis(cfg, 'ops-events');
  const http = cfg.INVOKE_OPS_WEBHOOK_URL ? createHttpClient(cfg) : undefined;
  const deliver =
    http && cfg.INVOKE_OPS_WEBHOOK_URL
      ? createWebhookDelivery({
          url: cfg.INVOKE_OPS_WEBHOOK_URL,
          secret: cfg.INVOKE_OPS_WEBHOOK_SECRET,
          http,
          logger,
        })
      : undefined;
  const emitter = createOpsEmitter(redis, {
    stream: cfg.INVOKE_OPS_STREAM,
    maxLen: cfg.INVOKE_OPS_MAXLEN,
    dedupMs: cfg.INVOKE_OPS_DEDUP_SECONDS * 1000,
    logger,
    deliver,
  });
  const destinations = destinationEventSource(emitter);
  return {
    emitter,
    observer: jobEventsObserver(emitter),
    onDestinationEvent: destinations.onEvent,
    /** For the fair-share tenant limits: `tenant.limited`, deduplicated like the others. */
    onTenantLimited(tenantId: string, reason: string, waitMs: number): void {
      void emitter.emit(tenantLimited(tenantId, reason, waitMs));
    },
    async close(): Promise<void> {
      destinations.close();
      await emitter.flush();
      http?.close();
      if (!shared) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export type OpsEvents = ReturnType<typeof createOpsEvents>;
export { tenantLimited, OPS_EVENT_TYPES, type OpsEvent, type OpsEventType } from './events.js';
export { parseOpsEntry, type OpsEntry } from './emitter.js';
