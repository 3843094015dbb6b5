/**
 * Composition root and the only place that knows about the process: load config (exit 2 on a
 * bad variable), log, wait for Redis (exit 1 past the grace period), listen (exit 1 when the
 * port is taken), then run the worker; shut down on SIGTERM/SIGINT with a bounded drain (a
 * second signal exits at once).
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createScrubber } from './template/secrets.js';
import { createWorkerApp, type WorkerApp } from './app.js';
import { withTimeout } from './lib/with-timeout.js';
import { waitForRedis } from './startup/wait-for-redis.js';
import { explainListenError } from './startup/explain.js';
import { checkUnknownVariables, describeUnknown, unknownVariables } from './startup/unknown-env.js';
import {
  createDestinations,
  loadDestinationPolicy,
  type Destinations,
} from './destinations/index.js';
import { createRedis, type RedisClient } from './redis.js';
import { loadTenantPolicy } from './fair/index.js';
import { createEgressPolicy } from './http/egress.js';
import { buildServer, UnsafeBindError } from './api/server.js';
import { createProducerApi, type ProducerApi } from './api/producers.js';
import type { FastifyInstance } from 'fastify';
import { createMetrics, type MetricsSources } from './metrics/index.js';
import { createOps, type Ops } from './ops/index.js';
import { metricsRoutes } from './api/routes/metrics.js';
import { dashboardRoutes } from './api/routes/dashboard.js';
import { opsRoutes } from './api/routes/ops.js';
import { credentialRoutes } from './api/routes/credentials.js';
import { createCredentialAdmin } from './auth/index.js';
import { createOpsEvents, type OpsEvents } from './ops-events/index.js';
import { registerAuthMetrics } from './auth/metrics.js';
import { registerDestinationMetrics } from './destinations/metrics.js';
import { checkSecretsKeys } from './tenants/start-check.js';
import { registerFairMetrics } from './fair/metrics.js';
import { callbackRoutes } from './api/routes/callbacks.js';
import { waitingPageRoutes } from './api/routes/waiting-page.js';
import { createCallbackEndpoint, type CallbackEndpoint } from './callbacks/endpoint.js';

function config(): Config {
  try {
    const cfg = loadConfig(process.env);
    createEgressPolicy(cfg); // checks INVOKE_ALLOW_PRIVATE / INVOKE_ALLOW_HOSTS entries (ConfigError)
    loadDestinationPolicy(cfg.INVOKE_DESTINATIONS);
    loadTenantPolicy(cfg.INVOKE_TENANTS);
    checkUnknownVariables(process.env, cfg.INVOKE_STRICT_CONFIG);
    return cfg;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`invoke-api-worker: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** A start-up failure the operator can fix: one line on stderr, then exit (1: cannot run). */
function stop(line: string, logger: Logger): never {
  logger.flush();
  process.stderr.write(`invoke-api-worker: ${line}\n`);
  process.exit(1);
}

/** BullMQ loses jobs if Redis evicts keys: say so loudly (managed Redis may forbid CONFIG). */
async function checkEvictionPolicy(redis: RedisClient, logger: Logger): Promise<void> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown;
    const policy = Array.isArray(reply)
      ? reply[1]
      : reply instanceof Map
        ? [...reply.values()][0]
        : (reply as Record<string, string>)?.['maxmemory-policy'];
    if (policy !== 'noeviction')
      logger.warn(
        { policy },
        'Redis maxmemory-policy should be noeviction: evicted keys are lost jobs',
      );
  } catch {
    logger.debug('could not read maxmemory-policy');
  }
}

function onSignals(stop: (signal: string) => Promise<void>, logger: Logger): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      void stop(signal);
    });
  }
}

async function main(): Promise<void> {
  const cfg = config();
  const logger = createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets));
  process.on('unhandledRejection', (reason) =>
    logger.error({ err: { name: (reason as Error)?.name } }, 'unhandled rejection'),
  );
  for (const v of unknownVariables(process.env))
    logger.warn({ variable: v.name, suggestion: v.suggestion }, describeUnknown(v));
  const unreachable = await waitForRedis(cfg, cfg.INVOKE_REDIS_STARTUP_GRACE_MS, logger);
  if (unreachable) stop(unreachable, logger);
  const badKey = await checkSecretsKeys(cfg);
  if (badKey) {
    process.stderr.write(`invoke-api-worker: invalid configuration: ${badKey}\n`);
    process.exit(2);
  }

  let app: WorkerApp | undefined;
  const sources: MetricsSources = {
    concurrency: cfg.INVOKE_WORKER_ENABLED ? cfg.INVOKE_CONCURRENCY : 0,
  };
  const metrics = createMetrics(sources);

  // The HTTP server listens before the worker starts: a taken port stops the process before it
  // takes a single job (a worker without health checks or metrics is invisible to operators).
  let server: FastifyInstance | undefined;
  let apiRedis: RedisClient | undefined;
  let producers: ProducerApi | undefined;
  let ops: Ops | undefined;
  let callbackEndpoint: CallbackEndpoint | undefined;
  if (cfg.INVOKE_API_ENABLED) {
    apiRedis = createRedis(cfg, 'api');
    const redis = apiRedis;
    ops = createOps(cfg, redis);
    Object.assign(sources, { queue: ops.queue, redis });
    registerDestinationMetrics(metrics.registry, { redis, prefix: cfg.BULLMQ_PREFIX });
    registerFairMetrics(metrics.registry, {
      redis,
      prefix: cfg.BULLMQ_PREFIX,
      queue: cfg.INVOKE_QUEUE,
    });
    callbackEndpoint = createCallbackEndpoint(cfg, redis, logger, metrics.registry);
    try {
      producers = createProducerApi(cfg);
      server = await buildServer({
        cfg,
        logger,
        readiness: {
          checks: {
            redis: async () => (await withTimeout(redis.ping(), 1000)) && redis.status === 'ready',
            ...(cfg.INVOKE_WORKER_ENABLED
              ? { worker: async () => app?.worker.isRunning() ?? false }
              : {}),
          },
        },
        plugins: [
          ...producers.plugins,
          metricsRoutes(metrics.registry),
          dashboardRoutes(ops.queue, redis, cfg),
          opsRoutes(ops),
          credentialRoutes(createCredentialAdmin(cfg, redis)),
          callbackRoutes(callbackEndpoint.callbacks, cfg, callbackEndpoint.barrier),
          waitingPageRoutes(ops.waiting),
        ],
      });
    } catch (err) {
      if (err instanceof UnsafeBindError) {
        process.stderr.write(`invoke-api-worker: invalid configuration: ${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
    await server
      .listen({ port: cfg.PORT, host: cfg.INVOKE_API_HOST })
      .catch((err: Error) => stop(explainListenError(err, cfg.INVOKE_API_HOST, cfg.PORT), logger));
    logger.info(
      { url: `http://${cfg.INVOKE_API_HOST}:${cfg.PORT}`, auth: Boolean(cfg.INVOKE_API_TOKEN) },
      'HTTP server listening',
    );
  }

  let destinations: Destinations | undefined;
  let opsEvents: OpsEvents | undefined;
  if (cfg.INVOKE_WORKER_ENABLED) {
    opsEvents = createOpsEvents(cfg, logger);
    destinations = createDestinations(cfg, logger, undefined, opsEvents.onDestinationEvent);
    app = createWorkerApp(cfg, logger, {
      ...destinations.hooks,
      observers: [metrics.observe, opsEvents.observer, ...(destinations.hooks.observers ?? [])],
      auth: { onTokenRequest: registerAuthMetrics(metrics.registry) },
      onTenantLimited: opsEvents.onTenantLimited,
    });
    sources.inFlight = app.inFlight;
    await checkEvictionPolicy(app.redis, logger);
    logger.info(
      { queue: cfg.INVOKE_QUEUE, prefix: cfg.BULLMQ_PREFIX, concurrency: cfg.INVOKE_CONCURRENCY },
      'worker started',
    );
  }

  onSignals(async (signal) => {
    logger.info(
      { signal, drainMs: cfg.INVOKE_SHUTDOWN_TIMEOUT_MS },
      'shutting down: no new jobs, draining in-flight calls',
    );
    await server?.close();
    await producers?.close();
    await ops?.close();
    await callbackEndpoint?.close();
    const drained = app ? await app.close(cfg.INVOKE_SHUTDOWN_TIMEOUT_MS) : true;
    await destinations?.close();
    await withTimeout(opsEvents?.close() ?? Promise.resolve(), 2000);
    apiRedis?.disconnect();
    logger.info({ drained }, 'stopped');
    logger.flush();
    process.exit(drained ? 0 : 1);
  }, logger);
}

void main();
