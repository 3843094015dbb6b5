/**
 * invoke-api waiting: steps waiting for a partner's callback (contract 6.5).
 *   waiting [list]                 soonest deadline first, held steps last
 *   waiting complete JOB... --body completes with the operator's body (invoke.completed)
 *   waiting retry JOB...           calls the partner again under a new token
 *   waiting discard JOB...         ends with DISCARDED (invoke.failed)
 */
import { Command } from 'commander';
import type { StepActions } from '../../ops/index.js';
import { EXIT, UsageError, withOps } from '../context.js';
import { json, out, table } from '../output.js';

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(
      `--body: not valid JSON (got ${text.length} characters); e.g. --body '{"verdict":"approved"}'`,
    );
  }
}

function report(r: StepActions, asJson: boolean | undefined): number {
  if (asJson) json(r);
  else {
    out(
      `${r.done.length} ${r.action === 'complete' ? 'completed' : r.action === 'retry' ? 'sent again (new token)' : 'discarded'}`,
    );
    if (r.skipped.length) out(table(r.skipped, ['id', 'reason']));
  }
  return r.skipped.length ? EXIT.problem : EXIT.ok;
}

export function waitingCommand(): Command {
  // exitOverride before the subcommands: commander copies it to each one as it is created.
  const cmd = new Command('waiting')
    .description('steps waiting for a partner callback: list, complete, retry, discard')
    .exitOverride();
  cmd
    .command('list', { isDefault: true })
    .description(
      'waiting steps, soonest deadline first (held steps, past CALLBACK_TIMEOUT with onFailure hold, last)',
    )
    .option('--limit <n>', 'how many to show', '50')
    .option('--json', 'machine-readable output')
    .action((o: { limit: string; json?: boolean }) =>
      withOps(async (ops) => {
        const list = await ops.waiting.list(Math.max(1, Math.min(1000, Number(o.limit) || 50)));
        if (o.json) return void json(list);
        out(`${list.waiting} waiting, ${list.held} held`);
        out(
          table(
            list.steps.map((s) => ({ ...s, deadline: s.deadline ?? '-' })),
            ['jobId', 'state', 'deadline', 'journeyId', 'stepId'],
          ),
        );
      }),
    );
  cmd
    .command('complete')
    .description(
      'complete waiting or held steps with a body, as their callback would (invoke.completed)',
    )
    .argument('<jobIds...>')
    .requiredOption('--body <json>', 'the callback body to save')
    .option('--json', 'machine-readable summary')
    .action((ids: string[], o: { body: string; json?: boolean }) =>
      withOps(async (ops) => report(await ops.waiting.complete(ids, parseBody(o.body)), o.json)),
    );
  cmd
    .command('retry')
    .description(
      'send the call again under a new token; every earlier token of the step stops working',
    )
    .argument('<jobIds...>')
    .option('--json', 'machine-readable summary')
    .action((ids: string[], o: { json?: boolean }) =>
      withOps(async (ops) => report(await ops.waiting.retry(ids), o.json)),
    );
  cmd
    .command('discard')
    .description('end waiting or held steps with DISCARDED (invoke.failed)')
    .argument('<jobIds...>')
    .option('--json', 'machine-readable summary')
    .action((ids: string[], o: { json?: boolean }) =>
      withOps(async (ops) => report(await ops.waiting.discard(ids), o.json)),
    );
  return cmd;
}
