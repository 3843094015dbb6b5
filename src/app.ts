/**
 * Composition of the worker pipeline from a Config: Redis connections, renderer, HTTP client,
 * result writer, processor and BullMQ Worker. main.ts adds the process (signals, exit codes);
 * tests build the same thing in-process.
 */
import type { Worker } from 'bullmq';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createRedis, watchConnection, type RedisClient } from './redis.js';
import { createRenderer } from './template/render.js';
import { createScrubber } from './template/secrets.js';
import { createTenancy, type Tenancy } from './tenants/index.js';
import { createHttpClient, type HttpClient } from './http/call.js';
import { contextKey, readContext } from './store/context.js';
import { createResultWriter } from './store/result-writer.js';
import { createProcessor } from './worker/processor.js';
import { chainBeforeCall, type AttemptHooks } from './queue/attempt-hooks.js';
import { createFairShare, type TenantLimited } from './fair/index.js';
import { createWorker } from './worker/create-worker.js';
import { createResponseCacheFor } from './cache/index.js';
import { withTimeout } from './lib/with-timeout.js';
import { createAttemptRecorder } from './attempts/store.js';
import { createAuth, type AuthOptions } from './auth/index.js';
import { createCallbacks, type Callbacks } from './callbacks/service.js';
import { createWaitStage } from './callbacks/stage.js';
import { startSweeper } from './callbacks/sweeper.js';
import { isConnectionError } from './startup/explain.js';

export interface WorkerApp {
  worker: Worker;
  redis: RedisClient;
  http: HttpClient;
  /** Vault, tenant secrets resolver and run ownership on the store connection. */
  tenancy: Tenancy;
  /** Waiting steps (contract 6.5); this process also sweeps their deadlines. */
  callbacks: Callbacks;
  /** Jobs this process is working on right now (the concurrency in use, for /metrics). */
  inFlight(): number;
  /** Stops taking jobs, waits for in-flight ones up to timeoutMs, closes connections. */
  close(timeoutMs: number): Promise<boolean>;
}

export function createWorkerApp(
  cfg: Config,
  logger: Logger,
  extra: AttemptHooks & { auth?: AuthOptions; onTenantLimited?: TenantLimited } = {},
): WorkerApp {
  const { auth: authOptions, onTenantLimited, ...hooks } = extra;
  const redis = createRedis(cfg, 'store');
  const bullConnection = createRedis(cfg, 'worker');
  watchConnection(redis, 'store', logger);
  watchConnection(bullConnection, 'worker', logger);
  const http = createHttpClient(cfg);
  const scrub = createScrubber(cfg.secrets);
  const tenancy = createTenancy(cfg, redis, scrub);
  const records = createAttemptRecorder(redis, {
    keep: cfg.INVOKE_ATTEMPT_RECORDS,
    bodyLimit: cfg.INVOKE_ATTEMPT_BODY_BYTES,
    userAgent: cfg.INVOKE_USER_AGENT,
    scrub,
    logger,
  });
  const auth = createAuth(cfg, redis, http, authOptions);
  const callbacks = createCallbacks(cfg, redis);
  const sweeper = startSweeper(callbacks, cfg.INVOKE_CALLBACK_SWEEP_MS, logger);
  // Every worker admits from the fair index (docs/fair-share.md); tenant limits run first.
  const fair = createFairShare(cfg, logger, undefined, onTenantLimited);
  const processor = createProcessor({
    renderer: createRenderer({
      budgetMs: cfg.INVOKE_TEMPLATE_BUDGET_MS,
      maxBodyChars: cfg.INVOKE_MAX_REQUEST_BYTES,
    }),
    http,
    readContext: (runId) => readContext(redis, contextKey(cfg.INVOKE_CTX_PREFIX, runId)),
    writeResult: createResultWriter(redis, cfg),
    logger,
    secrets: cfg.secrets,
    scrub,
    tenancy,
    limits: {
      retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS,
      maxErrorBodyBytes: cfg.INVOKE_MAX_ERROR_BODY_BYTES,
    },
    auth: auth.stage,
    waitStage: createWaitStage(callbacks),
    cache: createResponseCacheFor(redis, cfg, logger),
    ...hooks,
    beforeCall: chainBeforeCall(fair.beforeCall, hooks.beforeCall),
    observers: [records.observe, ...(hooks.observers ?? [])],
  });
  let running = 0;
  const worker = createWorker(cfg, bullConnection, async (job, token) => {
    running++;
    try {
      return await processor(job, token);
    } finally {
      running--;
    }
  });
  worker.on('error', (err) => {
    // BullMQ raises one per reconnect attempt; watchConnection already logs the outage once.
    if (isConnectionError(err))
      logger.debug({ code: (err as { code?: string }).code }, 'worker connection error');
    else logger.error({ err: { name: err.name, message: err.message } }, 'worker error');
  });
  fair
    .start(worker)
    .catch((err: Error) => logger.error({ err: { name: err.name } }, 'fair-share start failed'));

  async function close(timeoutMs: number): Promise<boolean> {
    // worker.close() never resolves while Redis is unreachable: bound it ourselves.
    sweeper.stop();
    const drained = await withTimeout(worker.close(), timeoutMs);
    await withTimeout(records.flush(), 1000);
    http.close();
    await fair.close();
    await Promise.allSettled([quit(redis), quit(bullConnection)]);
    return drained;
  }
  return { worker, redis, http, tenancy, callbacks, inFlight: () => running, close };
}

async function quit(r: RedisClient): Promise<void> {
  if (
    !(await withTimeout(
      r.quit().then(() => undefined),
      1000,
    ))
  )
    r.disconnect();
}
