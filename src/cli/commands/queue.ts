/** invoke-api pause | resume | clean: queue-wide switches and housekeeping. */
import { Command, Option } from 'commander';
import { parseDuration } from '../../ops/failure.js';
import { UsageError, withOps } from '../context.js';
import { json, out } from '../output.js';

export const pauseCommand = () =>
  new Command('pause').description('stop every worker taking new jobs (in-flight calls finish)').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => withOps(async (ops) => {
      await ops.pause();
      if (o.json) json({ paused: true });
      else out(`queue ${ops.queue.name} paused`);
    }));

export const resumeCommand = () =>
  new Command('resume').description('let workers take jobs again').option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => withOps(async (ops) => {
      await ops.resume();
      if (o.json) json({ paused: false });
      else out(`queue ${ops.queue.name} resumed`);
    }));

type CleanOpts = { completed?: boolean; failed?: boolean; olderThan: string; json?: boolean };

export const cleanCommand = () =>
  new Command('clean').description('remove finished jobs older than a duration, in bounded batches')
    .option('--completed', 'remove completed jobs')
    .option('--failed', 'remove failed jobs (held jobs too: they are NOT emitted; use discard for those)')
    .addOption(new Option('--older-than <duration>', 'age, e.g. 7d or 12h').makeOptionMandatory())
    .option('--json', 'machine-readable output')
    .action((o: CleanOpts) => withOps(async (ops) => {
      if (!o.completed && !o.failed) throw new UsageError('clean: give --completed and/or --failed');
      const grace = parseDuration(o.olderThan, 'older-than');
      const removed: Record<string, number> = {};
      if (o.completed) removed.completed = await ops.clean('completed', grace);
      if (o.failed) removed.failed = await ops.clean('failed', grace);
      if (o.json) return void json({ olderThanMs: grace, removed });
      for (const [state, n] of Object.entries(removed)) out(`${n} ${state} jobs removed`);
    }));
