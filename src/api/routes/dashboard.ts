/**
 * bull-board, the dashboard BullMQ users already know, at /ui: the invoke-api queue with job
 * data (templates, never secrets), attempts, the per-attempt job log and errors. Protected by
 * the token like everything else (api/auth.ts sends a Basic challenge for /ui, so a browser
 * shows a login prompt; the password is INVOKE_API_TOKEN, static assets included).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../../redis.js';

export const DASHBOARD_PATH = '/ui';

/**
 * bull-board 6.21 reads `queue.client` for its Redis panel, which BullMQ 6 no longer has
 * (connections live in the backend); answer from our own connection instead.
 */
class InvokeQueueAdapter extends BullMQAdapter {
  constructor(queue: Queue, private readonly redis: RedisClient) {
    super(queue, { description: 'Journey step API calls (invoke-api-worker)' });
  }
  override async getRedisInfo(): Promise<string> {
    return this.redis.info();
  }
}

export function dashboardRoutes(queue: Queue, redis: RedisClient) {
  return async (app: FastifyInstance) => {
    const serverAdapter = new FastifyAdapter();
    createBullBoard({ queues: [new InvokeQueueAdapter(queue, redis)], serverAdapter, options: { uiConfig: { boardTitle: 'invoke-api', miscLinks: [{ text: 'Waiting for callbacks', url: '/ui/waiting' }] } } });
    serverAdapter.setBasePath(DASHBOARD_PATH);
    await app.register(serverAdapter.registerPlugin() as never, { prefix: DASHBOARD_PATH });
  };
}
