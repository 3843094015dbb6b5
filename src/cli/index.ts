#!/usr/bin/env node
/**
 * invoke-api: the operator CLI. A thin parser over ops/ (the same API the HTTP routes use);
 * it connects with the worker's own environment (REDIS_URL, INVOKE_QUEUE, BULLMQ_PREFIX, ...).
 * Every read command has --json; every command has --help. Exit codes: see context.ts.
 */
import { Command, CommanderError } from 'commander';
import { EXIT } from './context.js';
import { statusCommand } from './commands/status.js';
import { failedCommand } from './commands/failed.js';
import { inspectCommand } from './commands/inspect.js';
import { discardCommand, retryCommand } from './commands/bulk.js';
import { cleanCommand, pauseCommand, resumeCommand } from './commands/queue.js';
import { tryCommand } from './commands/try.js';
import { cacheCommand } from './commands/cache.js';
import { registerBreakerCommand } from './commands/breaker.js';
import { secretsCommand } from './commands/secrets.js';
import { credentialsCommand } from './commands/credentials.js';
import { waitingCommand } from './commands/waiting.js';

// `invoke-api status | head -1`: the reader left, so the output is no longer wanted; stop
// quietly as other Unix tools do instead of dying with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

const program = new Command('invoke-api')
  .description(
    'Operate the invoke-api queue: status, failures, retry, discard, pause, clean, try a step, steps waiting for callbacks.\nConnects with REDIS_URL, INVOKE_QUEUE, BULLMQ_PREFIX (and INVOKE_CTX_PREFIX, INVOKE_EVENTS_STREAM) from the environment.',
  )
  .addHelpText(
    'after',
    '\nExit codes: 0 done, 1 problem found (job not found, call failed), 2 bad usage or configuration, 3 Redis unreachable.',
  )
  .showHelpAfterError()
  .exitOverride();

for (const cmd of [
  statusCommand(),
  failedCommand(),
  inspectCommand(),
  retryCommand(),
  discardCommand(),
  pauseCommand(),
  resumeCommand(),
  cleanCommand(),
  tryCommand(),
  waitingCommand(),
  credentialsCommand(),
  secretsCommand(),
]) {
  program.addCommand(cmd.exitOverride());
}
program.addCommand(cacheCommand().exitOverride());

registerBreakerCommand(program).exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Help and version exit 0; any parse error (unknown option, missing argument) is a usage error.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  throw err;
}
