/** invoke-api pause | resume | clean: queue-wide switches and housekeeping. */
import { Command, Option } from 'commander';
import { parseDuration } from '../../ops/failure.js';
import { UsageError, withOps } from '../context.js';
import { json, out } from '../output.js';

/** pause and resume: one queue-wide switch each way. */
const switchCommand = (name: 'pause' | 'resume', description: string) =>
  new Command(name)
    .description(description)
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      withOps(async (ops) => {
        await ops[name]();
        if (o.json) json({ paused: name === 'pause' });
        else out(`queue ${ops.queue.name} ${name === 'pause' ? 'paused' : 'resumed'}`);
      }),
    );

export const pauseCommand = () =>
  switchCommand('pause', 'stop every worker taking new jobs (in-flight calls finish)');
export const resumeCommand = () => switchCommand('resume', 'let workers take jobs again');

type CleanOpts = { completed?: boolean; failed?: boolean; olderThan: string; json?: boolean };

export const cleanCommand = () =>
  new Command('clean')
    .description('remove finished jobs older than a duration, in bounded batches')
    .option('--completed', 'remove completed jobs')
    .option(
      '--failed',
      'remove failed jobs (held jobs too: they are NOT emitted; use discard for those)',
    )
    .addOption(new Option('--older-than <duration>', 'age, e.g. 7d or 12h').makeOptionMandatory())
    .option('--json', 'machine-readable output')
    .action((o: CleanOpts) =>
      withOps(async (ops) => {
        if (!o.completed && !o.failed)
          throw new UsageError('clean: give --completed and/or --failed');
        const grace = parseDuration(o.olderThan, 'older-than');
        const removed: Record<string, number> = {};
        if (o.completed) removed.completed = await ops.clean('completed', grace);
        if (o.failed) removed.failed = await ops.clean('failed', grace);
        if (o.json) return void json({ olderThanMs: grace, removed });
        for (const [state, n] of Object.entries(removed)) out(`${n} ${state} jobs removed`);
      }),
    );
