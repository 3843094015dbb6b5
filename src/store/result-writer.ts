/**
 * Saves an envelope, then emits its event, and appends the attempt's line to the BullMQ job log.
 * On a single node all of it is one Lua script, for all the jobs that finish in the same
 * event-loop turn: one round trip for them (MULTI costs a command object and a reply per queued
 * command in ioredis, and the job log was a second round trip), each result written save first,
 * so the event can never exist without its saved result.
 * On a Cluster the keys live in different slots, so the save is written first, the event second
 * (contract section 3: "after the context write, never before it"), the log line alongside.
 */
import type { Envelope } from '../contract/envelope.js';
import type { ContinuationEvent } from '../contract/event.js';
import { appendSave, contextKey } from './context.js';
import { appendEmit, eventFields } from '../events/continuation.js';
import { isCluster, type RedisClient } from '../redis.js';
import type { Config } from '../config.js';

export type WriterConfig = Pick<
  Config,
  'INVOKE_CTX_PREFIX' | 'INVOKE_CTX_TTL_SECONDS' | 'INVOKE_EVENTS_STREAM' | 'INVOKE_EVENTS_MAXLEN'
>;

/** A line for the BullMQ job log (what Job.log writes: RPUSH to <job key>:logs, trimmed to keepLogs). */
export interface JobLogLine {
  jobKey: string;
  line: string;
  keepLogs: number | undefined;
}

export interface ResultToWrite {
  runId: string;
  variable: string;
  envelope: Envelope;
  /** Absent for a held failure: nothing is emitted. */
  event: ContinuationEvent | undefined;
  log?: JobLogLine;
}

/**
 * Results of one event-loop turn go to Redis together: jobs finishing in the same turn (many,
 * when 100 are in flight) are written by one script call, flushed on setImmediate, so one
 * command, one socket write and one script run serve them all instead of one each (measured in
 * docs/benchmarks.md, "What profiling removed"). A job alone in its turn still waits for no one.
 * At most BATCH_MAX results per call keep each script run short.
 */
const BATCH_MAX = 64;

/**
 * One result as the script reads it: what to do, by name. Absent means "not this step".
 * Numbers travel as strings so that Lua never reformats them.
 */
interface ScriptWrite {
  /** HSET <context> field <envelope>, then EXPIRE <context> ttl. */
  save?: { field: string; ttl: string };
  /** XADD <stream> MAXLEN ~ maxlen * ...fields (field/value pairs in the contract's order). */
  emit?: { maxlen: string; fields: string[] };
  /** RPUSH <job>:logs line while the job exists, trimmed to keep lines when keep is set. */
  log?: { line: string; keep?: string };
}

// Per result: KEYS context hash, stream, job hash, job log (named below); ARGV the result's
// ScriptWrite as JSON, then its envelope JSON on its own (inside the JSON it would be escaped and
// decoded once more: docs/benchmarks.md, "Measurements behind choices in the code"). Each result
// is written in order (save, then event, then log line) under pcall: a failure (a context key of
// the wrong type) fails that result alone, as its own call would have, and the batch goes on.
// Replies: 1, or the error message, per result. The log line is written only while the job
// exists, like BullMQ's addLog script. A result without save (an invalid job whose save is
// unusable) still emits its event.
const SAVE_EMIT_LOG_BATCH = `
local out = {}
for i = 1, #ARGV / 2 do
  local k = (i - 1) * 4
  local context, stream, job, joblog = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local write = cjson.decode(ARGV[2 * i - 1])
  local envelope = ARGV[2 * i]
  local r = 1
  if write.save then r = redis.pcall('HSET', context, write.save.field, envelope) end
  if type(r) == 'table' and r.err then out[i] = r.err else
    if write.save then redis.call('EXPIRE', context, write.save.ttl) end
    out[i] = 1
    if write.emit then
      r = redis.pcall('XADD', stream, 'MAXLEN', '~', write.emit.maxlen, '*', unpack(write.emit.fields))
      if type(r) == 'table' and r.err then out[i] = r.err end
    end
    if out[i] == 1 and write.log and redis.call('EXISTS', job) == 1 then
      r = redis.pcall('RPUSH', joblog, write.log.line)
      if type(r) == 'table' and r.err then out[i] = r.err
      elseif write.log.keep then redis.call('LTRIM', joblog, -tonumber(write.log.keep), -1) end
    end
  end
end
return out`;

/**
 * The script's JSON for one result. Strings are made well-formed first: JSON.stringify writes a
 * lone surrogate as a \uD8xx escape, which Redis's cjson refuses, while a plain argument reaches
 * Redis as U+FFFD (the Cluster path); both paths store the same text.
 */
function scriptWrite({ variable, event, log }: ResultToWrite, cfg: WriterConfig): string {
  const write: ScriptWrite = {};
  if (variable !== '') write.save = { field: variable, ttl: String(cfg.INVOKE_CTX_TTL_SECONDS) };
  if (event) {
    const fields = eventFields(event).map((f) => f.toWellFormed());
    write.emit = { maxlen: String(cfg.INVOKE_EVENTS_MAXLEN), fields };
  }
  if (log) {
    write.log = { line: log.line.toWellFormed() };
    if (log.keepLogs) write.log.keep = String(log.keepLogs);
  }
  return JSON.stringify(write);
}

type ScriptClient = {
  invokeSaveEmitLogBatch(...args: (string | number)[]): Promise<(number | string)[]>;
};

interface Pending {
  keys: string[];
  args: string[];
  resolve(): void;
  reject(err: Error): void;
}

export function createResultWriter(redis: RedisClient, cfg: WriterConfig) {
  if (!isCluster(redis)) {
    redis.defineCommand('invokeSaveEmitLogBatch', { lua: SAVE_EMIT_LOG_BATCH });
    const client = redis as unknown as ScriptClient;
    let queued: Pending[] = [];
    let scheduled = false;

    function flush(): void {
      scheduled = false;
      const batch = queued;
      queued = [];
      if (batch.length === 0) return;
      const keys = batch.flatMap((p) => p.keys);
      const args = batch.flatMap((p) => p.args);
      client.invokeSaveEmitLogBatch(keys.length, ...keys, ...args).then(
        (replies) => {
          for (const [i, p] of batch.entries()) {
            if (replies[i] === 1) p.resolve();
            else p.reject(new Error(`result write failed: ${String(replies[i])}`));
          }
        },
        (err: Error) => {
          for (const p of batch) p.reject(new Error(`result write failed: ${err.message}`));
        },
      );
    }

    return function writeResult(result: ResultToWrite): Promise<void> {
      const { log } = result;
      const keys = [
        contextKey(cfg.INVOKE_CTX_PREFIX, result.runId),
        cfg.INVOKE_EVENTS_STREAM,
        log?.jobKey ?? '',
        log ? `${log.jobKey}:logs` : '',
      ];
      const args = [scriptWrite(result, cfg), JSON.stringify(result.envelope)];
      return new Promise<void>((resolve, reject) => {
        queued.push({ keys, args, resolve, reject });
        if (queued.length >= BATCH_MAX) flush();
        else if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    };
  }
  return async function writeResult({
    runId,
    variable,
    envelope,
    event,
    log,
  }: ResultToWrite): Promise<void> {
    const key = contextKey(cfg.INVOKE_CTX_PREFIX, runId);
    const logged = log ? appendLog(redis, log) : undefined;
    if (variable !== '') {
      const save = redis.pipeline();
      appendSave(save, key, variable, JSON.stringify(envelope), cfg.INVOKE_CTX_TTL_SECONDS);
      await execOrThrow(save);
    }
    if (event) {
      const emit = redis.pipeline();
      appendEmit(emit, cfg.INVOKE_EVENTS_STREAM, cfg.INVOKE_EVENTS_MAXLEN, event);
      await execOrThrow(emit);
    }
    await logged;
  };
}

export type WriteResult = ReturnType<typeof createResultWriter>;

// KEYS job hash, job log; ARGV line, keepLogs ('' = all). As the single-node script: only to a
// job that still exists (a removed job's log would be a key nobody deletes).
const APPEND_LOG = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1) end
return 1`;

/** Cluster: the job log lives in BullMQ's slot; trimmed like Job.log with keepLogs. */
async function appendLog(
  redis: RedisClient,
  { jobKey, line, keepLogs }: JobLogLine,
): Promise<void> {
  try {
    await redis.eval(
      APPEND_LOG,
      2,
      jobKey,
      `${jobKey}:logs`,
      line,
      keepLogs ? String(keepLogs) : '',
    );
  } catch (err) {
    throw new Error(`result write failed: ${(err as Error).message}`);
  }
}

async function execOrThrow(pipe: {
  exec(): Promise<[Error | null, unknown][] | null>;
}): Promise<void> {
  const replies = await pipe.exec();
  const failed = replies?.find(([err]) => err);
  if (failed?.[0]) throw new Error(`result write failed: ${failed[0].message}`);
}
