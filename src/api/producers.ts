/**
 * The producers' surface of the HTTP server, built from config: the client (on its own Redis
 * connection, with the operator's retention settings as default job options), the dry run,
 * and the plugins to hand to buildServer (OpenAPI first, so it sees every route after it).
 */
import type { Config } from '../config.js';
import { createInvokeClient, defaultJobOptions } from '../client/create-invoke-client.js';
import { createDryRun } from '../dry-run/dry-run.js';
import { createRedis } from '../redis.js';
import { retention } from '../queue/job-options.js';
import { connectionDown, invocationRoutes } from './routes/invocations.js';
import { openapiPlugin } from './routes/openapi.js';
import { tenantRoutes } from './routes/tenants.js';
import { createTenancy } from '../tenants/index.js';

export const API_VERSION = '1.0.0';

export function createProducerApi(cfg: Config) {
  const redis = createRedis(cfg, 'producer');
  const client = createInvokeClient({
    connection: redis,
    queue: cfg.INVOKE_QUEUE,
    prefix: cfg.BULLMQ_PREFIX,
    ctxPrefix: cfg.INVOKE_CTX_PREFIX,
    allowLiteralCredentials: cfg.INVOKE_ALLOW_LITERAL_CREDENTIALS,
    jobOptions: { ...defaultJobOptions(), ...retention(cfg) },
    fairShare: cfg.INVOKE_FAIR_SHARE,
  });
  const tenancy = createTenancy(cfg, redis);
  const dryRun = createDryRun(cfg, { redis, tenancy });
  return {
    client,
    tenancy,
    dryRun,
    plugins: [
      openapiPlugin(API_VERSION),
      invocationRoutes({ client, dryRun, redisReady: () => !connectionDown(redis.status) }),
      tenantRoutes(tenancy.secrets),
    ],
    async close(): Promise<void> {
      await Promise.allSettled([client.close(), dryRun.close()]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export type ProducerApi = ReturnType<typeof createProducerApi>;
