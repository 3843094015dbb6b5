/**
 * An in-process worker on its own namespace, a Queue to add jobs, captured log lines and
 * helpers to read what the worker saved and emitted. close() tears everything down and
 * deletes the namespace's keys.
 */
import { Queue } from 'bullmq';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createScrubber } from '../../src/template/secrets.js';
import { createWorkerApp, type WorkerApp } from '../../src/app.js';
import { contextKey } from '../../src/store/context.js';
import { parseEventFields } from '../../src/events/continuation.js';
import { cleanNamespace, namespace, redisClient, type Namespace } from './redis.js';

export interface Harness {
  ns: Namespace;
  cfg: Config;
  app: WorkerApp;
  queue: Queue;
  redis: ReturnType<typeof redisClient>;
  logs: string[];
  context(runId: string): Promise<Record<string, any>>;
  events(): Promise<Record<string, string>[]>;
  close(): Promise<void>;
}

type Hooks = Parameters<typeof createWorkerApp>[2];
/** Hooks built from the harness's config and logger, closed after the worker (destinations). */
export interface HarnessPlugin {
  hooks: Hooks;
  close(): Promise<void>;
}

export async function startHarness(
  env: Record<string, string> = {},
  extra: Hooks | ((cfg: Config, logger: Logger) => HarnessPlugin) = {},
): Promise<Harness> {
  const ns = namespace();
  const cfg = loadConfig({
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: '20',
    LOG_LEVEL: 'info',
    ...ns.env,
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets), sink);
  const plugin = typeof extra === 'function' ? extra(cfg, logger) : undefined;
  const app = createWorkerApp(cfg, logger, plugin ? plugin.hooks : (extra as Hooks));
  // The worker's Redis: a test may point REDIS_URL at a private redis-server.
  const redis = redisClient(cfg.REDIS_URL);
  const queue = new Queue(cfg.INVOKE_QUEUE, {
    connection: redisClient(cfg.REDIS_URL),
    prefix: cfg.BULLMQ_PREFIX,
  });
  await app.worker.waitUntilReady();
  return {
    ns,
    cfg,
    app,
    queue,
    redis,
    logs,
    async context(runId) {
      const raw = await redis.hgetall(contextKey(cfg.INVOKE_CTX_PREFIX, runId));
      return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v)]));
    },
    async events() {
      const entries = await redis.xrange(cfg.INVOKE_EVENTS_STREAM, '-', '+');
      return entries.map(([, fields]) => parseEventFields(fields));
    },
    async close() {
      await app.close(5000);
      await plugin?.close();
      await queue.close();
      await (queue.opts.connection as { quit?: () => Promise<unknown> }).quit?.();
      await cleanNamespace(redis, ns);
      await redis.quit();
    },
  };
}

/** A valid job with overridable parts. */
export function jobData(
  over: Record<string, unknown> & { request?: Record<string, unknown> } = {},
) {
  const { request, ...rest } = over;
  return {
    v: 1,
    journeyId: 'welcome-flow',
    runId: `run-${Math.random().toString(36).slice(2, 10)}`,
    stepId: 'fetch-loyalty',
    customerId: 'cus-123',
    request: { method: 'GET', url: 'http://127.0.0.1:1/none', ...request },
    data: { customer: { id: 'cus-123', email: 'a@b.co' } },
    save: { variable: 'loyalty' },
    ...rest,
  };
}
