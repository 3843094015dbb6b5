/**
 * The producers' TypeScript client (contract section 1): validate, derive the jobId from the
 * idempotency key, add with our default options, and say whether the key was already there.
 *
 * Deduplication is race-free without new Lua: each add is queued in one MULTI right after an
 * EXISTS of the job's hash. MULTI/EXEC runs atomically, so EXISTS answers for the exact
 * moment of the add: 1 means a job with this key was already queued, running, completed
 * (within retention) or failed, and BullMQ's add returned the existing id without touching
 * it. enqueueMany sends the batch as MULTI blocks of MULTI_BLOCK jobs, each as soon as it is
 * built. (Queue.addBulk cannot be used for this: it returns the same id whether it added the
 * job or found it.)
 */
import { Queue, Job, type JobsOptions } from 'bullmq';
import { Redis, type ChainableCommander, type Cluster } from 'ioredis';
import { loadConfig } from '../config.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { InvalidJobError, parseJob } from '../contract/invalid-job.js';
import type { InvokeJob, InvokeJobInput } from '../contract/job.js';
import { BACKOFF_TYPE } from '../queue/backoff.js';
import { JOB_NAME, retention } from '../queue/job-options.js';
import { readStatus, type InvocationStatus } from './status.js';
import { createCallbacks, type Callbacks } from '../callbacks/service.js';
import { FAIR_DELAY_MS } from '../fair/scripts.js';
import { defineFairCommands, fairKeys, queueIntake } from '../fair/store.js';

export interface InvokeClientOptions {
  /**
   * Accept literal values in credential headers (Authorization, X-Api-Key, ...): for internal
   * test partners only; otherwise they must be {{ secrets.NAME }} (docs/security.md).
   */
  allowLiteralCredentials?: boolean;
  /** Used when no connection is given; default redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** An ioredis connection to share; the client does not close it. */
  connection?: Redis | Cluster;
  /** Default invoke-api (INVOKE_QUEUE). */
  queue?: string;
  /** BullMQ key prefix, default bull (BULLMQ_PREFIX). */
  prefix?: string;
  /** Context hash prefix for status() envelopes, default journey:ctx (INVOKE_CTX_PREFIX). */
  ctxPrefix?: string;
  /** Replaces the default job options (attempts 6, invoke backoff, retention) key by key. */
  jobOptions?: JobOptions;
  /** Connection errors (Redis down); calls wait or reject on their own. Default: ignored. */
  onError?: (err: Error) => void;
  /**
   * Enqueue through the fair index (docs/fair-share.md), default true (INVOKE_FAIR_SHARE); false
   * adds straight to BullMQ's FIFO. A job given a `delay` always skips the index.
   */
  fairShare?: boolean;
  /** For complete(): the workers' INVOKE_CALLBACK_KEY (or INVOKE_SECRETS_KEY, from which it is derived). */
  callbackKey?: string;
  secretsKey?: string;
  /** For complete(): the continuation stream, default journey:continuations (INVOKE_EVENTS_STREAM). */
  eventsStream?: string;
}

/**
 * What complete() did, as POST /v1/callbacks/{token} answers it: accepted (202, the step
 * completes, or will as soon as its call's result is saved), repeat (200, nothing changed),
 * unknown (404, not a token of ours), gone (410, timed out, discarded or superseded).
 */
export type CompleteResult = 'accepted' | 'repeat' | 'unknown' | 'gone';

/** BullMQ job options a caller may set; the jobId is always derived from the idempotency key. */
export type JobOptions = Omit<
  JobsOptions,
  'jobId' | 'parent' | 'repeat' | 'deduplication' | 'debounce'
>;

export interface EnqueueResult {
  jobId: string;
  /** True when a job with the same idempotency key already existed: nothing was added. */
  deduplicated: boolean;
}

const DEFAULTS = loadConfig({});

/**
 * Adds per MULTI. Redis runs a MULTI as one block, serving no other client meanwhile: one MULTI
 * of a whole large batch would stall every worker on the same Redis, and its one huge command
 * and reply would make the call slower too. Blocks of 500 hold Redis for milliseconds, and
 * Redis runs one while the client builds the next (BullMQ's add script and the client's Job
 * building cost about the same), so each block is sent as soon as it is built. The measurements
 * behind the size are in docs/benchmarks.md (Enqueue).
 */
const MULTI_BLOCK = 500;

/** attempts 6 (the first try and 5 retries), exponential-with-jitter "invoke" backoff, bounded retention. */
export function defaultJobOptions(): JobOptions {
  return { attempts: 6, backoff: { type: BACKOFF_TYPE, delay: 1000 }, ...retention(DEFAULTS) };
}

export function createInvokeClient(opts: InvokeClientOptions = {}) {
  const connection = opts.connection ?? new Redis(opts.redisUrl ?? DEFAULTS.REDIS_URL);
  const queue = new Queue(opts.queue ?? DEFAULTS.INVOKE_QUEUE, {
    connection,
    prefix: opts.prefix ?? DEFAULTS.BULLMQ_PREFIX,
  });
  // Without a listener BullMQ and ioredis print every reconnect failure to the console.
  const onError = opts.onError ?? (() => undefined);
  queue.on('error', onError);
  if (!opts.connection) connection.on('error', onError);
  const base = { ...defaultJobOptions(), ...opts.jobOptions };
  const ctxPrefix = opts.ctxPrefix ?? DEFAULTS.INVOKE_CTX_PREFIX;
  const literals = { allowLiteralCredentials: opts.allowLiteralCredentials ?? false };
  let cb: Callbacks | undefined;
  const callbacks = (): Callbacks => {
    if (!opts.callbackKey && !opts.secretsKey)
      throw new Error(
        "complete(): pass callbackKey (the workers' INVOKE_CALLBACK_KEY) to createInvokeClient",
      );
    cb ??= createCallbacks(
      {
        ...DEFAULTS,
        INVOKE_QUEUE: queue.name,
        BULLMQ_PREFIX: opts.prefix ?? DEFAULTS.BULLMQ_PREFIX,
        INVOKE_CTX_PREFIX: ctxPrefix,
        INVOKE_EVENTS_STREAM: opts.eventsStream ?? DEFAULTS.INVOKE_EVENTS_STREAM,
        INVOKE_CALLBACK_KEY: opts.callbackKey,
        INVOKE_SECRETS_KEY: opts.secretsKey,
      },
      connection,
    );
    return cb;
  };
  const fair = fairKeys(opts.prefix ?? DEFAULTS.BULLMQ_PREFIX, queue.name);

  async function addAll(
    jobs: InvokeJob[],
    overrides: JobOptions | undefined,
  ): Promise<EnqueueResult[]> {
    if (jobs.length === 0) return [];
    const backend = queue.getBackend();
    const client = await backend.client;
    const ids = jobs.map((job) => idempotencyKey(job));
    const given = { ...base, ...overrides };
    // Fair jobs wait in BullMQ's delayed set, never due, until admission moves them to wait.
    const viaIndex = opts.fairShare !== false && !given.delay;
    const options = viaIndex ? { ...given, delay: FAIR_DELAY_MS } : given;
    if (viaIndex) defineFairCommands(client as unknown as Redis);
    const stride = viaIndex ? 3 : 2;
    checkSizes(jobs, options.sizeLimit);
    const execs: ReturnType<ReturnType<typeof client.multi>['exec']>[] = [];
    for (let start = 0; start < jobs.length; start += MULTI_BLOCK) {
      const multi = client.multi();
      // We passed an ioredis connection, so the transaction is ioredis' (BullMQ's interface lacks EXISTS).
      const raw = multi as unknown as ChainableCommander;
      const adds = jobs.slice(start, start + MULTI_BLOCK).map((job, j) => {
        const id = ids[start + j]!;
        raw.exists(backend.toKey(id));
        // Job.addJob runs BullMQ's option checks and queues its script on the transaction
        // synchronously (as FlowProducer does).
        // Not `{ ...options, jobId: id }`: a property after a spread is V8's slow path
        // (docs/benchmarks.md, "What profiling removed").
        const added = new Job(
          queue,
          JOB_NAME,
          job,
          Object.assign({}, options, { jobId: id }),
          id,
        ).addJob(multi);
        if (viaIndex) queueIntake(raw, fair, job, id);
        return added;
      });
      await Promise.all(adds);
      // Sent as soon as it is built: Redis runs this block while the next one is built. Nothing
      // is sent before the first block has passed BullMQ's checks: those depend only on the
      // options (the same for every job), the jobId (ours never is an integer or holds ':') and
      // the size (checked above for all jobs), so a later block cannot fail them.
      const sent = multi.exec();
      // Awaited below; this only keeps a rejection that comes first (a block failing to build
      // after this one was sent) from being reported as unhandled.
      sent.catch(() => undefined);
      execs.push(sent);
    }
    const results = await Promise.all(execs);
    // exec() is null only for a transaction aborted by WATCH (none here); never let it shift replies.
    if (results.some((r) => r === null))
      throw new Error('enqueue failed: a transaction was aborted');
    const replies = results.flatMap((r) => r!);
    const failed = replies.find(([err]) => err);
    if (failed?.[0]) throw new Error(`enqueue failed: ${failed[0].message}`);
    return ids.map((jobId, i) => ({ jobId, deduplicated: replies[stride * i]![1] === 1 }));
  }

  return {
    queue,
    /** Validates (InvalidJobError naming each path, before Redis), then adds unless the key exists. */
    async enqueue(input: InvokeJobInput | unknown, overrides?: JobOptions): Promise<EnqueueResult> {
      const [result] = await addAll([parseJob(input, '', literals)], overrides);
      return result!;
    },
    /** All inputs are validated first (paths prefixed with [index]); then MULTI blocks, each sent as soon as built. */
    async enqueueMany(
      inputs: readonly (InvokeJobInput | unknown)[],
      overrides?: JobOptions,
    ): Promise<EnqueueResult[]> {
      return addAll(validateAll(inputs, literals), overrides);
    },
    /** State, attempts, last error code and (when finished) the saved envelope; null if unknown. */
    status(jobId: string, opts?: { attempts?: boolean }): Promise<InvocationStatus | null> {
      return readStatus(queue, ctxPrefix, jobId, opts);
    },
    /**
     * Completes a waiting step (contract 6.5) for engines that receive the partner's callback on
     * their own endpoint: the same rules as POST /v1/callbacks/{token}, exactly once.
     */
    async complete(token: string, body: unknown): Promise<CompleteResult> {
      const result = await callbacks().complete(token, body);
      return result === 'first' ? 'accepted' : result;
    },
    async close(): Promise<void> {
      await queue.close();
      if (!opts.connection) await connection.quit().catch(() => connection.disconnect());
    },
  };
}

export type InvokeClient = ReturnType<typeof createInvokeClient>;

/**
 * BullMQ's one per-job check, run for the whole batch before its first block is sent (the same
 * measure as BullMQ's: UTF-8 bytes of the JSON data).
 */
function checkSizes(jobs: readonly InvokeJob[], sizeLimit: number | undefined): void {
  if (!sizeLimit) return;
  const over = jobs.findIndex((job) => Buffer.byteLength(JSON.stringify(job)) > sizeLimit);
  if (over >= 0)
    throw new Error(
      `enqueue failed: the job at [${over}] exceeds the limit of ${sizeLimit} bytes (sizeLimit)`,
    );
}

/** Every bad job of a batch is reported, not just the first. */
function validateAll(
  inputs: readonly unknown[],
  literals: { allowLiteralCredentials?: boolean },
): InvokeJob[] {
  const jobs: InvokeJob[] = [];
  const issues: InvalidJobError['issues'] = [];
  inputs.forEach((input, i) => {
    try {
      jobs.push(parseJob(input, `[${i}]`, literals));
    } catch (err) {
      if (!(err instanceof InvalidJobError)) throw err;
      issues.push(...err.issues);
    }
  });
  if (issues.length) throw new InvalidJobError(issues);
  return jobs;
}
