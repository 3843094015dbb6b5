/**
 * The two result writers are one behaviour: the same results written on a single node (one
 * script per event-loop turn) and on a 3-master Cluster (save, then emit, per slot) leave the
 * same context, the same events in the same order for each run, and the same job logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import type { Envelope } from '../../src/contract/envelope.js';
import { buildEvent, parseEventFields } from '../../src/events/continuation.js';
import { createRedis } from '../../src/redis.js';
import { contextKey } from '../../src/store/context.js';
import { createResultWriter, type ResultToWrite } from '../../src/store/result-writer.js';
import { jobData } from '../helpers/harness.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.js';

const ns = namespace('rweq');
const single = loadConfig(ns.env);
const admin = redisClient();
let cluster: RedisCluster;
let clusterConn: Cluster;
let singleConn: Redis;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  clusterConn = createRedis(
    loadConfig({ ...ns.env, REDIS_CLUSTER_NODES: cluster.seeds }),
    'store',
  ) as Cluster;
  singleConn = createRedis(single, 'store') as Redis;
}, 60_000);
afterAll(async () => {
  // The job keys carry a {bull} hash tag (one slot with their logs on the Cluster), outside the
  // namespace's pattern: removed here by name.
  for (const k of results().jobKeys) await singleConn?.del(k, `${k}:logs`);
  await clusterConn?.quit();
  await singleConn?.quit();
  await cluster?.destroy();
  await cleanNamespace(admin, ns);
  await admin.quit();
});

/**
 * Results of every shape: with event and log, held (no event), no save (an invalid job), log to a
 * job that is gone, trimmed logs, and text with a lone surrogate (JSON would escape it as \uD800,
 * which Redis's cjson refuses; a plain argument arrives as U+FFFD).
 */
function results(): { all: ResultToWrite[]; jobKeys: string[] } {
  const all: ResultToWrite[] = [];
  const jobKeys: string[] = [];
  for (let i = 0; i < 12; i++) {
    const job = invokeJobSchema.parse(jobData({ runId: `eq-run-${i % 4}`, stepId: `s${i}` }));
    const envelope: Envelope = {
      ok: i % 3 !== 0,
      status: 200 + i,
      body: { i, text: 'é\u0000"quoted"' },
      truncated: false,
      headers: { 'x-i': String(i) },
      error: null,
      attempts: 1,
      durationMs: i,
      at: '2026-12-01T00:00:00.000Z',
      eventId: `ev-${i}`,
    };
    const jobKey = `{bull}:${ns.id}:${i}`;
    jobKeys.push(jobKey);
    const event = buildEvent(job, String(i), envelope);
    all.push({
      runId: job.runId,
      variable: i === 1 ? '' : `v${i % 5}`,
      envelope,
      event: i % 4 === 3 ? undefined : { ...event, errorCode: i === 2 ? 'E\udc00' : '' },
      log:
        i % 2 === 0
          ? { jobKey, line: `attempt line ${i} \ud800é`, keepLogs: i % 6 === 0 ? 1 : undefined }
          : undefined,
    });
  }
  return { all, jobKeys };
}

async function writeAll(
  conn: Redis | Cluster,
  cfg: typeof single,
  rs: ResultToWrite[],
  jobKeys: string[],
) {
  // Jobs 0..9 exist (their logs may be written), 10 and 11 are gone; each has one older line.
  for (const k of jobKeys.slice(0, 10)) {
    await conn.hset(k, 'name', 'invoke');
    await conn.rpush(`${k}:logs`, 'older line');
  }
  const write = createResultWriter(conn, cfg);
  // Two turns, as a worker would write them.
  await Promise.all(rs.slice(0, 7).map((r) => write(r)));
  await Promise.all(rs.slice(7).map((r) => write(r)));
}

async function state(
  conn: Redis | Cluster,
  cfg: typeof single,
  rs: ResultToWrite[],
  jobKeys: string[],
) {
  const runs = [...new Set(rs.map((r) => r.runId))].sort();
  const context: Record<string, unknown> = {};
  const ttlOk: boolean[] = [];
  for (const run of runs) {
    const key = contextKey(cfg.INVOKE_CTX_PREFIX, run);
    const h = await conn.hgetall(key);
    context[run] = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, JSON.parse(v)]));
    ttlOk.push((await conn.ttl(key)) > cfg.INVOKE_CTX_TTL_SECONDS - 60);
  }
  const events = (await conn.xrange(cfg.INVOKE_EVENTS_STREAM, '-', '+')).map(([, f]) =>
    parseEventFields(f),
  );
  // Per run, events keep their order (contract: one run's steps in order).
  const byRun = Object.fromEntries(runs.map((run) => [run, events.filter((e) => e.runId === run)]));
  const logs: Record<string, string[]> = {};
  for (const k of jobKeys) logs[k] = await conn.lrange(`${k}:logs`, 0, -1);
  return { context, ttlOk, byRun, eventCount: events.length, logs };
}

describe('result writer, single node and Cluster', () => {
  it('leaves the same context, events and job logs', async () => {
    const { all, jobKeys } = results();
    await writeAll(singleConn, single, all, jobKeys);
    await writeAll(clusterConn, single, all, jobKeys);
    const a = await state(singleConn, single, all, jobKeys);
    const b = await state(clusterConn, single, all, jobKeys);
    expect(b).toEqual(a);
    // And what that state is: 9 events (3 held), every TTL set, logs only for jobs that exist.
    expect(a.eventCount).toBe(9);
    expect(a.ttlOk.every(Boolean)).toBe(true);
    expect(a.logs[jobKeys[0]!]).toEqual(['attempt line 0 \ufffdé']);
    expect(a.logs[jobKeys[2]!]).toEqual(['older line', 'attempt line 2 \ufffdé']);
    expect(a.byRun['eq-run-2']?.[0]?.errorCode).toBe('E\ufffd');
    // Job 1 emitted its event without a save (first of its run in its turn: on a Cluster a
    // result with no save to wait for would overtake an earlier one of the same run).
    expect(a.byRun['eq-run-1']?.map((e) => e.stepId)).toEqual(['s1', 's5', 's9']);
    expect(Object.keys(a.context['eq-run-1'] as object).sort()).toEqual(['v0', 'v4']);
    expect(a.logs[jobKeys[1]!]).toEqual(['older line']);
    expect(a.logs[jobKeys[10]!]).toEqual([]);
  }, 60_000);
});
