/**
 * `invoke-api breaker`: the destination breakers shared by every worker (docs/destinations.md).
 *
 *   invoke-api breaker list [--json]              hosts seen, breaker state, pause, calls in flight
 *   invoke-api breaker open <host> [--for <sec>]  hold every job for host (delayed, not failed)
 *   invoke-api breaker close <host>               let calls flow again (also lifts a Retry-After pause)
 *
 * A thin surface over src/destinations/admin.ts. Exit codes as the other commands: 0 done,
 * 2 bad usage or configuration, 3 Redis unreachable.
 */
import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { config, EXIT, fail } from '../context.js';
import { createRedis, type RedisClient } from '../../redis.js';
import { listDestinations, normaliseHost, type HostStatus } from '../../destinations/admin.js';
import { closeBreakerByHand, openBreakerByHand } from '../../ops/breaker.js';
import { createLogger } from '../../logger.js';
import { createScrubber } from '../../template/secrets.js';

const CONNECT_TIMEOUT_MS = 5000;

const print = (text: string) => process.stdout.write(`${text}\n`);

/** Runs fn with a connected Redis and always disconnects; exits with the command's code. */
async function withRedis(fn: (redis: RedisClient, cfg: Config) => Promise<void>): Promise<void> {
  const cfg = config();
  const redis = createRedis(cfg, 'cli');
  const timer = setTimeout(
    () => fail(EXIT.redis, `Redis unreachable after ${CONNECT_TIMEOUT_MS} ms`),
    CONNECT_TIMEOUT_MS,
  );
  try {
    await redis.ping();
    clearTimeout(timer);
    await fn(redis, cfg);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
  process.exit(EXIT.ok);
}

/** Warnings (an operations event not emitted) go to stderr; stdout stays the command's answer. */
const cliLogger = (cfg: Config) =>
  createLogger('warn', createScrubber(cfg.secrets), process.stderr);

/** The host as the worker keys it; a bad one is a usage error naming the argument. */
function hostArg(raw: string): string {
  try {
    return normaliseHost(raw);
  } catch (err) {
    return fail(EXIT.usage, (err as Error).message);
  }
}

function render(rows: HostStatus[]): string {
  if (rows.length === 0) return '(no destinations seen yet)';
  const cols = ['host', 'breaker', 'until', 'paused', 'inFlight', 'window', 'lastSeen'] as const;
  const cells = rows.map((r) => [
    r.host,
    `${r.breaker}${r.manual ? ' (manual)' : ''}`,
    r.openUntil ?? (r.breaker === 'open' ? 'closed by hand' : '-'),
    r.pausedUntil ?? '-',
    String(r.inFlight),
    `${r.windowFailures}/${r.windowCalls} failed`,
    r.lastSeen,
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (parts: readonly string[]) =>
    parts
      .map((p, i) => p.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

export function registerBreakerCommand(program: Command): Command {
  const breaker = program
    .command('breaker')
    .description('destination circuit breakers shared by all workers: list, open or close by hand');

  breaker
    .command('list')
    .description('hosts seen, breaker state, Retry-After pause, calls in flight')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      withRedis(async (redis, cfg) => {
        const rows = await listDestinations(redis, cfg.BULLMQ_PREFIX);
        print(o.json ? JSON.stringify(rows, null, 2) : render(rows));
      }),
    );

  breaker
    .command('open')
    .description(
      "open a host's breaker: its jobs wait in the delayed set (not failed) until it is closed",
    )
    .argument('<host>', 'host or host:port as shown by `breaker list`')
    .option('--for <seconds>', 'close by itself (half-open, one probe) after this many seconds')
    .option('--json', 'machine-readable output')
    .action((raw: string, o: { for?: string; json?: boolean }) => {
      const host = hostArg(raw);
      const seconds = o.for === undefined ? undefined : Number(o.for);
      if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0))
        fail(
          EXIT.usage,
          `--for: must be a positive number of seconds (got ${JSON.stringify(o.for)})`,
        );
      return withRedis(async (redis, cfg) => {
        const s = await openBreakerByHand(
          cfg,
          cliLogger(cfg),
          redis,
          host,
          seconds === undefined ? undefined : Math.round(seconds * 1000),
        );
        print(
          o.json
            ? JSON.stringify(s, null, 2)
            : `breaker for ${s.host} is open ${s.openUntil ? `until ${s.openUntil}` : 'until closed by hand'}; its jobs wait (jobs fail CIRCUIT_OPEN only past the destination deadline)`,
        );
      });
    });

  breaker
    .command('close')
    .description("close a host's breaker and lift any Retry-After pause")
    .argument('<host>', 'host or host:port as shown by `breaker list`')
    .option('--json', 'machine-readable output')
    .action((raw: string, o: { json?: boolean }) => {
      const host = hostArg(raw);
      return withRedis(async (redis, cfg) => {
        const s = await closeBreakerByHand(cfg, cliLogger(cfg), redis, host);
        print(o.json ? JSON.stringify(s, null, 2) : `breaker for ${s.host} is closed`);
      });
    });

  return breaker;
}
