/**
 * bull-board, the dashboard BullMQ users already know, at /ui: the invoke-api queue with job
 * names carrying the tenant, data (templates, never secrets), attempts, the per-attempt job log, errors and the saved
 * envelope (as the return value). Protected by
 * the token like everything else (api/auth.ts sends a Basic challenge for /ui, so a browser
 * shows a login prompt; the password is INVOKE_API_TOKEN, static assets included).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../../redis.js';
import { maskJobData } from '../../contract/literal-credentials.js';
import type { Config } from '../../config.js';
import { createEnvelopeReader, type FinishedJob } from '../dashboard-envelopes.js';
import { isJobId } from '../guards.js';

export const DASHBOARD_PATH = '/ui';

/**
 * bull-board 6.21 reads `queue.client` for its Redis panel, which BullMQ 6 no longer has
 * (connections live in the backend); answer from our own connection instead.
 */
class InvokeQueueAdapter extends BullMQAdapter {
  private readonly attachEnvelopes: ((jobs: FinishedJob[]) => Promise<void>) | undefined;
  constructor(
    queue: Queue,
    private readonly redis: RedisClient,
    cfg?: EnvelopeConfig,
  ) {
    super(queue, { description: 'Journey step API calls (invoke-api-worker)' });
    // Literal credentials a raw producer put in headers are not shown (contract/literal-credentials.ts).
    this.setFormatter('data', (data) => maskJobData(data));
    // The job list shows names, not data: a tenant's job says whose it is at a glance (issue 21).
    this.setFormatter('name', (job: { name?: string; data?: unknown }) =>
      dashboardName(job.name ?? '', job.data),
    );
    this.attachEnvelopes = cfg && createEnvelopeReader(redis, cfg);
  }
  override async getRedisInfo(): Promise<string> {
    return this.redis.info();
  }
  // A finished job's "Return value" tab shows the envelope saved in the run's context.
  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>) {
    const jobs = await super.getJobs(...args);
    await this.attachEnvelopes?.(jobs as unknown as FinishedJob[]);
    return jobs;
  }
  override async getJob(id: string) {
    const job = await super.getJob(id);
    if (job) await this.attachEnvelopes?.([job as unknown as FinishedJob]);
    return job;
  }
}

/**
 * bull-board hands a job id from the path straight to BullMQ, which reads `<prefix>:<id>` and
 * `<id>:logs`: `meta` or `events` would show BullMQ's own keys or a raw WRONGTYPE error. Its job
 * routes take only ids a job can have: the contract's jobId, or BullMQ's own numeric ids for
 * jobs a raw producer added without one.
 */
export const isDashboardJobId = (id: string) => isJobId(id) || /^[1-9][0-9]{0,15}$/.test(id);

type EnvelopeConfig = Pick<Config, 'INVOKE_CTX_PREFIX' | 'secrets'>;

/** `invoke · acme` for a job of tenant acme; the BullMQ name alone for a job without tenantId. */
export function dashboardName(name: string, data: unknown): string {
  const tenant = (data as { tenantId?: unknown } | null | undefined)?.tenantId;
  return typeof tenant === 'string' && tenant !== '' ? `${name} · ${tenant}` : name;
}

/** With `cfg`, finished jobs show their saved envelope as the return value. */
export function dashboardRoutes(queue: Queue, redis: RedisClient, cfg?: EnvelopeConfig) {
  return async (app: FastifyInstance) => {
    const serverAdapter = new FastifyAdapter();
    createBullBoard({
      queues: [new InvokeQueueAdapter(queue, redis, cfg)],
      serverAdapter,
      options: {
        uiConfig: {
          boardTitle: 'invoke-api',
          miscLinks: [{ text: 'Waiting for callbacks', url: '/ui/waiting' }],
        },
      },
    });
    serverAdapter.setBasePath(DASHBOARD_PATH);
    app.addHook('preHandler', async (req, reply) => {
      const jobId = (req.params as { jobId?: unknown } | undefined)?.jobId;
      if (typeof jobId !== 'string' || !req.routeOptions.url?.startsWith(`${DASHBOARD_PATH}/api/`))
        return;
      if (!isDashboardJobId(jobId)) return reply.code(404).send({ error: 'Job not found' });
    });
    await app.register(serverAdapter.registerPlugin() as never, { prefix: DASHBOARD_PATH });
  };
}
