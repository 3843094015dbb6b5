/**
 * The operator HTTP surfaces on a real server and worker: the bull-board dashboard at /ui behind
 * the token (Basic challenge, static assets too), /metrics (Prometheus text that parses, counters
 * that move after calls, public only when configured) and the /v1/ops routes over ops/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { createMetrics } from '../../src/metrics/index.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { metricsRoutes } from '../../src/api/routes/metrics.js';
import { dashboardRoutes } from '../../src/api/routes/dashboard.js';
import { opsRoutes } from '../../src/api/routes/ops.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';

const TOKEN = 'test-token-0123456789abcdef';
const basic = (pw: string) => `Basic ${Buffer.from(`ops:${pw}`).toString('base64')}`;
let h: Harness;
let up: Upstream;
let ops: Ops;
let server: FastifyInstance;
let base: string;
const metrics = createMetrics({}, { defaultMetrics: true });

async function serve(env: Record<string, string>): Promise<FastifyInstance> {
  const cfg = loadConfig({ ...h.ns.env, INVOKE_API_TOKEN: TOKEN, LOG_LEVEL: 'silent', ...env });
  const logger = createLogger('silent', (s) => s);
  return buildServer({
    cfg,
    logger,
    readiness: { checks: {} },
    plugins: [
      metricsRoutes(metrics.registry),
      dashboardRoutes(ops.queue, h.redis, cfg),
      opsRoutes(ops),
    ],
  });
}

beforeAll(async () => {
  up = await startUpstream((r, res) => {
    if (r.url.startsWith('/dash'))
      return json(res, 200, { points: 7 }, { 'x-api-key': 'leaky-header-value' });
    return r.url.startsWith('/down') ? json(res, 503, {}) : json(res, 200, { ok: 1 });
  });
  h = await startHarness({}, { observers: [metrics.observe] });
  ops = createOps(h.cfg, h.redis);
  server = await serve({});
  await server.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await server?.close();
  await ops?.close();
  await h?.close();
  await up?.close();
});

/** Every sample line of the exposition format: name{labels} value. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

describe('dashboard at /ui', () => {
  it('answers 401 with a Basic challenge without credentials, 200 with the token as password', async () => {
    const anon = await fetch(`${base}/ui`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await anon.text()).not.toContain('invoke-api');
    expect(
      (await fetch(`${base}/ui`, { headers: { authorization: basic('wrong-password-123456') } }))
        .status,
    ).toBe(401);
    const page = await fetch(`${base}/ui`, { headers: { authorization: basic(TOKEN) } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<html');
    // Static assets are behind the token too.
    // Asset URLs are relative to <base href="/ui/">.
    const found = /(?:src|href)="(static\/[^"]+\.(?:js|css))"/.exec(html)?.[1];
    expect(found).toBeDefined();
    const asset = `/ui/${found}`;
    expect((await fetch(`${base}${asset}`)).status).toBe(401);
    expect(
      (await fetch(`${base}${asset}`, { headers: { authorization: basic(TOKEN) } })).status,
    ).toBe(200);
  });

  it('serves the queue, job logs and the Redis panel through its API', async () => {
    const data = jobData({ request: { url: `${up.url}/ok` } });
    const job = await h.queue.add('invoke', data, { attempts: 1 });
    await waitForJob(h.queue, job.id!, 'completed');
    const auth = { headers: { authorization: basic(TOKEN) } };
    const queues = (await (
      await fetch(`${base}/ui/api/queues?activeQueue=invoke-api&status=completed`, auth)
    ).json()) as { queues: { name: string; jobs: { id: string; data: unknown }[] }[] };
    const q = queues.queues.find((x) => x.name.endsWith('invoke-api'));
    expect(q?.jobs.map((j) => j.id)).toContain(job.id);
    const logs = await (
      await fetch(`${base}/ui/api/queues/${encodeURIComponent(q!.name)}/${job.id}/logs`, auth)
    ).json();
    expect(JSON.stringify(logs)).toMatch(/GET 127\.0\.0\.1\/ok -> 200/);
    expect((await fetch(`${base}/ui/api/redis/stats`, auth)).status).toBe(200);
  });

  it("shows each finished job's saved envelope as its return value, masked", async () => {
    const data = jobData({ request: { url: `${up.url}/dash` }, save: { variable: 'loyalty' } });
    const job = await h.queue.add('invoke', data, { attempts: 1 });
    await waitForJob(h.queue, job.id!, 'completed');
    const auth = { headers: { authorization: basic(TOKEN) } };
    const list = (await (
      await fetch(`${base}/ui/api/queues?activeQueue=invoke-api&status=completed`, auth)
    ).json()) as { queues: { name: string; jobs: { id: string; returnValue: unknown }[] }[] };
    const q = list.queues.find((x) => x.name.endsWith('invoke-api'))!;
    const shown = q.jobs.find((j) => j.id === job.id)!.returnValue as {
      ok: boolean;
      body: unknown;
      headers: Record<string, string>;
      eventId: string;
    };
    expect(shown).toMatchObject({
      ok: true,
      status: 200,
      body: { points: 7 },
      eventId: idempotencyKey(data),
    });
    expect(JSON.stringify(shown)).not.toContain('leaky-header-value');
    const one = (await (
      await fetch(`${base}/ui/api/queues/${encodeURIComponent(q.name)}/${job.id}`, auth)
    ).json()) as { job: { returnValue: unknown } };
    expect(one.job.returnValue).toEqual(shown);
  });
  it("names a tenant's job by its tenant (invoke · acme) and keeps tenantId in the data; a v1 job is plain invoke", async () => {
    const tenant = jobData({ tenantId: 'acme', request: { url: `${up.url}/ok` } });
    const v1 = jobData({ request: { url: `${up.url}/ok` } });
    const jobs = [
      await h.queue.add('invoke', tenant, { attempts: 1 }),
      await h.queue.add('invoke', v1, { attempts: 1 }),
    ];
    for (const job of jobs) await waitForJob(h.queue, job.id!, 'completed');
    const auth = { headers: { authorization: basic(TOKEN) } };
    const list = (await (
      await fetch(`${base}/ui/api/queues?activeQueue=invoke-api&status=completed`, auth)
    ).json()) as {
      queues: { name: string; jobs: { id: string; name: string; data: { tenantId?: string } }[] }[];
    };
    const q = list.queues.find((x) => x.name.endsWith('invoke-api'))!;
    const [shownTenant, shownV1] = jobs.map((job) => q.jobs.find((j) => j.id === job.id)!);
    expect(shownTenant).toMatchObject({ name: 'invoke · acme', data: { tenantId: 'acme' } });
    expect(shownV1!.name).toBe('invoke');
    const one = (await (
      await fetch(`${base}/ui/api/queues/${encodeURIComponent(q.name)}/${jobs[0]!.id}`, auth)
    ).json()) as { job: { name: string; data: { tenantId?: string } } };
    expect(one.job).toMatchObject({ name: 'invoke · acme', data: { tenantId: 'acme' } });
  });

  it("masks a raw producer's literal credential in the job data it shows, listed and alone", async () => {
    const LITERAL = 'literal-dashboard-key-9f8e7d';
    const data = jobData({
      request: {
        url: `${up.url}/ok`,
        headers: { authorization: `Bearer ${LITERAL}`, 'x-api-key': LITERAL },
      },
    });
    const job = await h.queue.add('invoke', data, { attempts: 1 });
    await waitForJob(h.queue, job.id!, 'completed');
    const auth = { headers: { authorization: basic(TOKEN) } };
    const list = await (
      await fetch(`${base}/ui/api/queues?activeQueue=invoke-api&status=completed`, auth)
    ).text();
    const q = (
      JSON.parse(list) as { queues: { name: string; jobs: { id: string }[] }[] }
    ).queues.find((x) => x.name.endsWith('invoke-api'))!;
    expect(q.jobs.map((j) => j.id)).toContain(job.id);
    const one = await (
      await fetch(`${base}/ui/api/queues/${encodeURIComponent(q.name)}/${job.id}`, auth)
    ).text();
    for (const body of [list, one]) {
      expect(body).not.toContain(LITERAL);
      expect(body).toContain('[REDACTED]');
    }
  });

  it.each(['meta', 'events', 'id', 'wait', 'x:logs', 'stalled-check', 'ik.r.s.1:logs', '%2e%2e'])(
    "answers 404 for BullMQ's own key %s as a job id, never its content or a Redis error",
    async (id) => {
      const auth = { headers: { authorization: basic(TOKEN) } };
      const queues = (await (
        await fetch(`${base}/ui/api/queues?activeQueue=invoke-api&status=completed`, auth)
      ).json()) as { queues: { name: string }[] };
      const q = encodeURIComponent(queues.queues.find((x) => x.name.endsWith('invoke-api'))!.name);
      for (const path of [
        `/ui/api/queues/${q}/${encodeURIComponent(id)}`,
        `/ui/api/queues/${q}/${encodeURIComponent(id)}/logs`,
      ]) {
        const res = await fetch(`${base}${path}`, auth);
        const text = await res.text();
        expect(res.status, `${path}: ${text}`).toBe(404);
        expect(text).not.toMatch(/WRONGTYPE|ERR |opts|redis/i);
      }
      const retry = await fetch(
        `${base}/ui/api/queues/${q}/${encodeURIComponent(id)}/retry/failed`,
        { ...auth, method: 'PUT' },
      );
      expect(retry.status).toBe(404);
    },
  );
});

describe('/metrics', () => {
  it('needs the token, parses, and its counters move after calls', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const scrape = async () =>
      parseProm(
        await (
          await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
        ).text(),
      );
    const before = await scrape();
    expect(before.has('process_cpu_user_seconds_total')).toBe(true);
    const ok = `invoke_calls_total{host="127.0.0.1",outcome="completed",code=""}`;
    const retried = `invoke_retries_total{host="127.0.0.1",code="HTTP_STATUS"}`;
    const a = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/ok` } }), {
      attempts: 1,
    });
    const b = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/down` } }), {
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
    });
    await waitForJob(h.queue, a.id!, 'completed');
    await waitForJob(h.queue, b.id!, 'failed');
    const after = await scrape();
    expect(after.get(ok)! - (before.get(ok) ?? 0)).toBe(1);
    expect(after.get(retried)! - (before.get(retried) ?? 0)).toBe(1);
    expect(
      after.get(`invoke_calls_total{host="127.0.0.1",outcome="failed",code="HTTP_STATUS"}`),
    ).toBeGreaterThanOrEqual(1);
    expect(after.get('invoke_call_duration_seconds_count{host="127.0.0.1"}')!).toBeGreaterThan(
      before.get('invoke_call_duration_seconds_count{host="127.0.0.1"}') ?? 0,
    );
    expect(after.get('invoke_job_attempts_bucket{le="2"}')!).toBeGreaterThanOrEqual(1);
    expect(after.get('invoke_events_emitted_total{type="invoke.failed"}')).toBeGreaterThanOrEqual(
      1,
    );
    // Nothing high-cardinality: no run ids, job ids or paths in any label.
    const text = [...after.keys()].join('\n');
    expect(text).not.toMatch(/run-|\/ok|\/down|ik\./);
  });

  it('reports queue depth, oldest waiting age and concurrency when given the queue', async () => {
    const m = createMetrics(
      { queue: ops.queue, redis: h.redis, inFlight: () => 3, concurrency: 20 },
      { defaultMetrics: false },
    );
    await h.queue.pause();
    try {
      await h.queue.add('invoke', jobData(), { attempts: 1 });
      const samples = parseProm(await m.registry.metrics());
      expect(samples.get('invoke_queue_jobs{state="waiting"}')).toBe(1);
      expect(samples.get('invoke_queue_jobs{state="failed"}')).toBeGreaterThanOrEqual(1);
      expect(samples.get('invoke_queue_oldest_waiting_seconds')).toBeGreaterThanOrEqual(0);
      expect(samples.get('invoke_worker_concurrency_in_use')).toBe(3);
      expect(samples.get('invoke_worker_concurrency')).toBe(20);
    } finally {
      await h.queue.drain();
      await h.queue.resume();
    }
  });

  it('is public only with INVOKE_METRICS_PUBLIC=true', async () => {
    const pub = await serve({ INVOKE_METRICS_PUBLIC: 'true' });
    try {
      expect((await pub.inject({ url: '/metrics' })).statusCode).toBe(200);
      expect((await pub.inject({ url: '/ui' })).statusCode).toBe(401);
    } finally {
      await pub.close();
    }
  });
});

describe('/v1/ops routes (the same ops API as the CLI)', () => {
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  it('status, failed grouped, retry by filter, 400 naming a bad field', async () => {
    const status = (await (await fetch(`${base}/v1/ops/status`, { headers: auth })).json()) as {
      counts: Record<string, number>;
    };
    expect(status.counts.failed).toBeGreaterThanOrEqual(1);
    const groups = (await (
      await fetch(`${base}/v1/ops/failed?groupBy=status`, { headers: auth })
    ).json()) as { groups: { key: string }[] };
    expect(groups.groups.map((g) => g.key)).toContain('503');
    const dry = (await (
      await fetch(`${base}/v1/ops/retry`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ filter: { status: 503 }, dryRun: true }),
      })
    ).json()) as { matched: number; dryRun: boolean };
    expect(dry).toMatchObject({ dryRun: true });
    expect(dry.matched).toBeGreaterThanOrEqual(1);
    const bad = await fetch(`${base}/v1/ops/failed?since=soon`, { headers: auth });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('since');
    expect((await fetch(`${base}/v1/ops/jobs/nope`, { headers: auth })).status).toBe(404);
  });
});
