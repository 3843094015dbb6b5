/**
 * The single-node result writer: the results of one event-loop turn go to Redis in one script
 * call, and each result still succeeds or fails on its own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import type { Envelope } from '../../src/contract/envelope.js';
import { buildEvent, parseEventFields } from '../../src/events/continuation.js';
import { createRedis } from '../../src/redis.js';
import { contextKey } from '../../src/store/context.js';
import { createResultWriter, type ResultToWrite } from '../../src/store/result-writer.js';
import { jobData } from '../helpers/harness.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const ns = namespace('rw');
const cfg = loadConfig(ns.env);
const redis = redisClient();
const store = createRedis(cfg, 'store') as Redis;
const writeResult = createResultWriter(store, cfg);

afterAll(async () => {
  await store.quit();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

/** Counts the commands the store connection sends (the real connection, only observed). */
function countCommands(): string[] {
  const sent: string[] = [];
  const send = store.sendCommand.bind(store);
  store.sendCommand = ((cmd: { name: string }, ...rest: unknown[]) => {
    sent.push(cmd.name);
    return (send as (...a: unknown[]) => unknown)(cmd, ...rest);
  }) as typeof store.sendCommand;
  return sent;
}

function result(i: number, opts: { event?: boolean; log?: boolean } = {}): ResultToWrite {
  const job = invokeJobSchema.parse(jobData({ runId: `${ns.id}-run-${i}`, stepId: `s${i}` }));
  const envelope: Envelope = {
    ok: true,
    status: 200,
    body: { i },
    truncated: false,
    headers: {},
    error: null,
    attempts: 1,
    durationMs: 3,
    at: new Date().toISOString(),
    eventId: `ev-${i}`,
  };
  const jobKey = `${ns.prefix}:invoke-api:${i}`;
  return {
    runId: job.runId,
    variable: job.save.variable,
    envelope,
    event: opts.event === false ? undefined : buildEvent(job, String(i), envelope),
    log: opts.log ? { jobKey, line: `attempt ${i}`, keepLogs: 2 } : undefined,
  };
}

const saved = async (r: ResultToWrite) =>
  redis.hget(contextKey(cfg.INVOKE_CTX_PREFIX, r.runId), r.variable);
const events = async () =>
  (await redis.xrange(cfg.INVOKE_EVENTS_STREAM, '-', '+')).map(([, f]) => parseEventFields(f));

describe('result writer (single node)', () => {
  it('writes the results of one event-loop turn with one command, each saved before its event', async () => {
    await store.ping();
    const sent = countCommands();
    const batch = Array.from({ length: 5 }, (_, i) => result(i));
    await Promise.all(batch.map((r) => writeResult(r)));
    expect(sent.filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(1);
    for (const r of batch) expect(JSON.parse((await saved(r))!)).toEqual(r.envelope);
    expect((await events()).map((e) => e.eventId)).toEqual(batch.map((r) => r.envelope.eventId));
    const ttl = await redis.ttl(contextKey(cfg.INVOKE_CTX_PREFIX, batch[0]!.runId));
    expect(ttl).toBeGreaterThan(cfg.INVOKE_CTX_TTL_SECONDS - 10);
  });

  it('fails only the result whose key is broken; the others in the same call land', async () => {
    const [good1, bad, good2] = [result(10), result(11), result(12)];
    await redis.set(contextKey(cfg.INVOKE_CTX_PREFIX, bad.runId), 'not a hash');
    const before = (await events()).length;
    const outcomes = await Promise.allSettled([
      writeResult(good1),
      writeResult(bad),
      writeResult(good2),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((outcomes[1] as PromiseRejectedResult).reason as Error).message).toMatch(
      /^result write failed: WRONGTYPE/,
    );
    expect(await saved(good2)).not.toBeNull();
    // No event for the result that was not saved.
    expect((await events()).slice(before).map((e) => e.eventId)).toEqual([
      good1.envelope.eventId,
      good2.envelope.eventId,
    ]);
  });

  it('skips the event of a held result and logs only to a job that exists, trimmed to keepLogs', async () => {
    const held = result(20, { event: false, log: true });
    const logged = result(21, { log: true });
    const jobKey = logged.log!.jobKey;
    await redis.hset(jobKey, 'name', 'invoke');
    await redis.rpush(`${jobKey}:logs`, 'old 1', 'old 2');
    const before = (await events()).length;
    await Promise.all([writeResult(held), writeResult(logged)]);
    expect(await saved(held)).not.toBeNull();
    expect((await events()).slice(before).map((e) => e.eventId)).toEqual([logged.envelope.eventId]);
    expect(await redis.exists(`${held.log!.jobKey}:logs`)).toBe(0);
    expect(await redis.lrange(`${jobKey}:logs`, 0, -1)).toEqual(['old 2', 'attempt 21']);
  });

  it('splits a turn with more results than one call takes', async () => {
    const sent = countCommands();
    const batch = Array.from({ length: 150 }, (_, i) => result(100 + i));
    await Promise.all(batch.map((r) => writeResult(r)));
    expect(sent.filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(3);
    expect(await saved(batch[149]!)).not.toBeNull();
  });
});
