/**
 * What every command needs: configuration from the environment (the same variables as the
 * worker: REDIS_URL, INVOKE_QUEUE, BULLMQ_PREFIX, ...), the ops API, and exit codes:
 *   0 done, 1 the operation found a problem (job not found, a dry run failed),
 *   2 bad usage or configuration, 3 Redis unreachable.
 */
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { Ops } from '../ops/index.js';
import { OpsError } from '../ops/errors.js';
import { withTimeout } from '../lib/with-timeout.js';
import { redactUrl } from '../lib/redact-url.js';
import { checkUnknownVariables, describeUnknown } from '../startup/unknown-env.js';

export const EXIT = { ok: 0, problem: 1, usage: 2, redis: 3 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function fail(code: number, message: string): never {
  process.stderr.write(`invoke-api: ${message}\n`);
  process.exit(code);
}

export function config(): Config {
  try {
    const cfg = loadConfig(process.env);
    for (const v of checkUnknownVariables(process.env, cfg.INVOKE_STRICT_CONFIG))
      process.stderr.write(`invoke-api: warning: ${describeUnknown(v)}\n`);
    return cfg;
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT.usage, `invalid configuration: ${err.message}`);
    throw err;
  }
}

/** Longest a command waits for Redis before exit 3 (INVOKE_REDIS_STARTUP_GRACE_MS if shorter). */
const CONNECT_TIMEOUT_MS = 5000;

/** Runs fn with a connected ops API and always closes it; returns fn's exit code. */
export async function withOps(
  fn: (ops: Ops, cfg: Config) => Promise<number | void>,
): Promise<void> {
  const cfg = config();
  // Loaded on use, so `--help` and usage errors answer without loading BullMQ.
  const { createOps } = await import('../ops/index.js');
  const ops = createOps(cfg);
  const waitMs = Math.min(CONNECT_TIMEOUT_MS, cfg.INVOKE_REDIS_STARTUP_GRACE_MS);
  let code: number = EXIT.ok;
  try {
    if (!(await withTimeout(ops.queue.waitUntilReady(), waitMs))) {
      fail(EXIT.redis, `Redis unreachable at ${redactUrl(cfg.REDIS_URL)} after ${waitMs} ms`);
    }
    code = (await fn(ops, cfg)) ?? EXIT.ok;
  } catch (err) {
    const badInput =
      err instanceof UsageError || (err instanceof OpsError && err.kind === 'bad-input');
    code = badInput ? EXIT.usage : EXIT.problem;
    process.stderr.write(`invoke-api: ${(err as Error).message}\n`);
  } finally {
    await withTimeout(ops.close(), 2000);
  }
  process.exit(code);
}
