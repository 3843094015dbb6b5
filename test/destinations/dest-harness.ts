/**
 * An in-process worker with destination limits on its own namespace (the shared harness builds
 * its worker without hooks), a Queue, and helpers to read jobs and the host list.
 */
import { Queue, type Job } from 'bullmq';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createScrubber } from '../../src/template/secrets.js';
import { createWorkerApp, type WorkerApp } from '../../src/app.js';
import { createDestinations } from '../../src/destinations/index.js';
import { listDestinations, type HostStatus } from '../../src/destinations/admin.js';
import { cleanNamespace, namespace, redisClient, type Namespace } from '../helpers/redis.js';

export interface DestHarness {
  ns: Namespace;
  cfg: Config;
  app: WorkerApp;
  queue: Queue;
  redis: ReturnType<typeof redisClient>;
  logs: string[];
  host(host: string): Promise<HostStatus | undefined>;
  states(ids: string[]): Promise<string[]>;
  close(): Promise<void>;
}

export async function startDestHarness(destinations: object, env: Record<string, string> = {}): Promise<DestHarness> {
  const ns = namespace('dest');
  const cfg = loadConfig({ INVOKE_ALLOW_PRIVATE: '127.0.0.1/32', INVOKE_CONCURRENCY: '20', LOG_LEVEL: 'info', ...ns.env, INVOKE_DESTINATIONS: JSON.stringify(destinations), ...env });
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const logger = createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets), sink);
  const dest = createDestinations(cfg, logger);
  const app = createWorkerApp(cfg, logger, dest.hooks);
  const redis = redisClient();
  const queue = new Queue(cfg.INVOKE_QUEUE, { connection: redisClient(), prefix: cfg.BULLMQ_PREFIX });
  await app.worker.waitUntilReady();
  return {
    ns, cfg, app, queue, redis, logs,
    host: async (h) => (await listDestinations(redis, cfg.BULLMQ_PREFIX)).find((d) => d.host === h),
    states: (ids) => Promise.all(ids.map(async (id) => (await queue.getJob(id) as Job | undefined)?.getState() ?? 'missing')),
    async close() {
      await app.close(5000);
      await dest.close();
      await queue.close();
      await (queue.opts.connection as { quit?: () => Promise<unknown> }).quit?.();
      await cleanNamespace(redis, ns);
      await redis.quit();
    },
  };
}
