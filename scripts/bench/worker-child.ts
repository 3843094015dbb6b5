/**
 * One worker under test, in its own process so its CPU time and peak RSS are its own:
 *   empty  BullMQ Worker with an empty processor: the queue's own limit on this machine
 *   naive  the obvious 40 lines: got + HSET + XADD, no validation, templates or egress checks
 * ("ours" is the built service itself, dist/main.js: see service.ts.)
 * Protocol with the driver (IPC): -> ready; <- mark (start of the measured window);
 * <- report -> { cpuMs, completed, maxRssKb }; <- stop (drain and exit).
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import got from 'got';

const kind = process.argv[2] as 'empty' | 'naive';
const env = process.env as Record<string, string>;
const connection = () => new Redis(env.REDIS_URL!, { maxRetriesPerRequest: null });

function bullWorker(processor: (job: Job) => Promise<unknown>): {
  worker: Worker;
  close: () => Promise<unknown>;
} {
  const worker = new Worker(env.INVOKE_QUEUE!, processor, {
    connection: connection(),
    prefix: env.BULLMQ_PREFIX,
    concurrency: Number(env.INVOKE_CONCURRENCY),
  });
  return { worker, close: () => worker.close() };
}

/** What someone writes without this project: call, save the body, emit. */
function naive() {
  const redis = connection();
  return bullWorker(async (job) => {
    const { request, runId, stepId, save, journeyId } = job.data;
    const res = await got(request.url, {
      method: request.method,
      headers: request.headers,
      json: request.body,
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const envelope = {
      ok,
      status: res.statusCode,
      body: JSON.parse(res.body),
      attempts: job.attemptsMade + 1,
      at: new Date().toISOString(),
      eventId: job.id,
    };
    await redis.hset(
      `${env.INVOKE_CTX_PREFIX}:{${runId}}`,
      save.variable,
      JSON.stringify(envelope),
    );
    await redis.xadd(
      env.INVOKE_EVENTS_STREAM!,
      '*',
      'eventId',
      job.id!,
      'type',
      ok ? 'invoke.completed' : 'invoke.failed',
      'journeyId',
      journeyId,
      'runId',
      runId,
      'stepId',
      stepId,
      'status',
      String(res.statusCode),
      'jobId',
      job.id!,
    );
  });
}

const { worker, close } = kind === 'empty' ? bullWorker(async () => undefined) : naive();
let completed = 0;
worker.on('completed', () => completed++);
let cpuAtMark = process.cpuUsage();
let completedAtMark = 0;

process.on('message', async (msg: { type: string }) => {
  if (msg.type === 'mark') {
    cpuAtMark = process.cpuUsage();
    completedAtMark = completed;
  } else if (msg.type === 'report') {
    const cpu = process.cpuUsage(cpuAtMark);
    process.send?.({
      type: 'report',
      cpuMs: (cpu.user + cpu.system) / 1000,
      completed: completed - completedAtMark,
      maxRssKb: process.resourceUsage().maxRSS,
    });
  } else if (msg.type === 'stop') {
    await close();
    process.exit(0);
  }
});
// The driver died (Ctrl-C, a crash): do not linger as an orphan.
process.on('disconnect', () => process.exit(1));
await worker.waitUntilReady();
process.send?.({ type: 'ready' });
