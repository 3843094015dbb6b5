/**
 * Attempt records live in the BullMQ job log (<job key>:logs) as marked lines: BullMQ removes
 * that list with the job (retention, clean, remove, obliterate), so the records share the job's
 * retention without a key of their own to expire, and the dashboard's Logs tab shows them.
 * A script appends one only while the job exists (a completed job may already be removed) and
 * keeps the last K, counting marked lines only (the processor's own log lines are left alone).
 * Writes are fire-and-forget from the observer: batched per event-loop turn in one pipeline,
 * never awaited by the job, and a failure costs one record, never the attempt.
 */
import type { AttemptInfo, AttemptObserver } from '../queue/attempt-hooks.js';
import type { Logger } from '../logger.js';
import { isCluster, type RedisClient } from '../redis.js';
import {
  buildAttemptRecord,
  decodeRecord,
  encodeRecord,
  RECORD_PREFIX,
  type JobRecord,
  type RecordOptions,
} from './record.js';

// KEYS job hash, job log; ARGV line, K, prefix. Replies 1 (kept) or 0 (the job is gone).
const APPEND_RECORD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local len = redis.call('RPUSH', KEYS[2], ARGV[1])
local k = tonumber(ARGV[2])
if len <= k then return 1 end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
local p = ARGV[3]
local seen = 0
for i = #items, 1, -1 do
  if string.sub(items[i], 1, #p) == p then
    seen = seen + 1
    if seen > k then redis.call('LREM', KEYS[2], 1, items[i]) end
  end
end
return 1`;

// The same for a batch on one node: KEYS job hash 1, job log 1, job hash 2, ...; ARGV K, prefix,
// line 1, line 2, ... One script call per event-loop turn instead of one per record.
const APPEND_RECORDS = `
local k = tonumber(ARGV[1])
local p = ARGV[2]
local kept = 0
for j = 1, #KEYS / 2 do
  local hash, log = KEYS[2 * j - 1], KEYS[2 * j]
  if redis.call('EXISTS', hash) == 1 then
    kept = kept + 1
    local len = redis.call('RPUSH', log, ARGV[j + 2])
    if len > k then
      local items = redis.call('LRANGE', log, 0, -1)
      local seen = 0
      for i = #items, 1, -1 do
        if string.sub(items[i], 1, #p) == p then
          seen = seen + 1
          if seen > k then redis.call('LREM', log, 1, items[i]) end
        end
      end
    end
  end
end
return kept`;

const BATCH_MAX = 200;

type ScriptClient = {
  invokeAppendRecord(
    jobKey: string,
    logKey: string,
    line: string,
    k: number,
    prefix: string,
  ): Promise<number>;
  invokeAppendRecords(numKeys: number, ...keysThenArgs: (string | number)[]): Promise<number>;
};

export const jobKeyOf = (job: { queueQualifiedName: string; id?: string | undefined }) =>
  `${job.queueQualifiedName}:${job.id}`;

function define(redis: RedisClient): void {
  if (!(redis as unknown as Partial<ScriptClient>).invokeAppendRecord) {
    redis.defineCommand('invokeAppendRecord', { numberOfKeys: 2, lua: APPEND_RECORD });
    redis.defineCommand('invokeAppendRecords', { lua: APPEND_RECORDS });
  }
}

/** Appends one record line to a job's log, keeping the last `keep` records. */
export async function appendRecord(
  redis: RedisClient,
  jobKey: string,
  record: JobRecord,
  keep: number,
  scrub: (s: string) => string,
): Promise<boolean> {
  define(redis);
  const reply = await (redis as unknown as ScriptClient).invokeAppendRecord(
    jobKey,
    `${jobKey}:logs`,
    encodeRecord(record, scrub),
    keep,
    RECORD_PREFIX,
  );
  return reply === 1;
}

export interface AttemptRecorderOptions extends RecordOptions {
  /** Records kept per job (INVOKE_ATTEMPT_RECORDS); 0 records nothing. */
  keep: number;
  logger: Logger;
}

/** The processor observer that records every attempt, and flush() for a clean shutdown. */
export function createAttemptRecorder(
  redis: RedisClient,
  opts: AttemptRecorderOptions,
): { observe: AttemptObserver; flush(): Promise<void> } {
  define(redis);
  const cluster = isCluster(redis);
  let queued: { jobKey: string; line: string }[] = [];
  let inFlight: Promise<unknown> = Promise.resolve();

  function flush(): Promise<void> {
    const batch = queued;
    queued = [];
    if (batch.length === 0) return inFlight.then(() => undefined);
    const done = write(batch).then(
      (failed) => {
        if (failed) opts.logger.warn({ failed }, 'attempt records not written');
      },
      (err: Error) => opts.logger.warn({ err: { name: err.name } }, 'attempt records not written'),
    );
    inFlight = Promise.all([inFlight, done]);
    return inFlight.then(() => undefined);
  }

  /** Writes a batch; resolves with the number of records that failed. */
  async function write(batch: { jobKey: string; line: string }[]): Promise<number> {
    if (!cluster) {
      // Chunks bound one script's run (and its arguments) however many jobs finished in a turn.
      for (let i = 0; i < batch.length; i += BATCH_MAX) {
        const keys: string[] = [];
        const lines: string[] = [];
        for (const { jobKey, line } of batch.slice(i, i + BATCH_MAX)) {
          keys.push(jobKey, `${jobKey}:logs`);
          lines.push(line);
        }
        await (redis as unknown as ScriptClient).invokeAppendRecords(
          keys.length,
          ...keys,
          opts.keep,
          RECORD_PREFIX,
          ...lines,
        );
      }
      return 0;
    }
    // A Cluster spreads the jobs over slots: one call per record, pipelined.
    const pipe = redis.pipeline();
    for (const { jobKey, line } of batch)
      (pipe as unknown as ScriptClient).invokeAppendRecord(
        jobKey,
        `${jobKey}:logs`,
        line,
        opts.keep,
        RECORD_PREFIX,
      );
    const replies = await pipe.exec();
    return replies?.filter(([err]) => err).length ?? 0;
  }

  function observe(info: AttemptInfo): void {
    if (opts.keep === 0) return;
    try {
      const line = encodeRecord(buildAttemptRecord(info, opts), info.scrub ?? opts.scrub);
      if (queued.push({ jobKey: jobKeyOf(info.job), line }) === 1) setImmediate(flush);
    } catch (err) {
      opts.logger.warn({ err: { name: (err as Error)?.name } }, 'attempt record not built');
    }
  }
  return { observe, flush };
}

/** A job's records, oldest first, and its other log lines. */
export async function readRecords(
  redis: { lrange(key: string, start: number, stop: number): Promise<string[]> },
  jobKey: string,
  limit = 1000,
): Promise<{ records: JobRecord[]; lines: string[] }> {
  const all = await redis.lrange(`${jobKey}:logs`, 0, limit - 1);
  const records: JobRecord[] = [];
  const lines: string[] = [];
  for (const line of all) {
    const r = decodeRecord(line);
    if (r) records.push(r);
    else if (!line.startsWith(RECORD_PREFIX)) lines.push(line);
  }
  return { records, lines };
}
