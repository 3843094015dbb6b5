/**
 * retry and discard share their shape: JOB... or --failed with filters, --dry-run, a summary.
 * `--tenant` scopes either: with ids, every id must be a job of that tenant (else exit 1,
 * nothing done, the same message as for an unknown id).
 */
import { Command } from 'commander';
import type { ActionResult, Ops, Target } from '../../ops/index.js';
import { tenantScope } from '../../ops/tenant-scope.js';
import type { ActionOptions } from '../../ops/actions.js';
import type { FilterInput } from '../../ops/failure.js';
import { EXIT, UsageError, withOps } from '../context.js';
import { json, out, progress, table } from '../output.js';
import { filterOf, withFilters } from './filters.js';
import { runRetryWithData } from './retry-with-data.js';

type Opts = FilterInput & {
  failed?: boolean;
  dryRun?: boolean;
  json?: boolean;
  withData?: string;
  by?: string;
};
type Act = (ops: Ops, target: Target, opts: ActionOptions) => Promise<ActionResult>;

export function bulkCommand(name: 'retry' | 'discard', description: string, act: Act): Command {
  const cmd = withFilters(new Command(name).description(description));
  if (name === 'retry') {
    cmd
      .option(
        '--with-data <file>',
        "one failed or held job: replace its data (what the templates read) with this JSON file's object, then retry; same idempotency key",
      )
      .option('--by <name>', 'who is acting, for the record (default: OS user@host)');
  }
  return cmd
    .argument('[jobIds...]', 'job ids; or use --failed with filters')
    .option('--failed', 'every failed job matching the filters')
    .option('--dry-run', 'show what would be done, change nothing')
    .option('--json', 'machine-readable summary')
    .action((ids: string[], o: Opts) =>
      withOps(async (ops) => {
        if (o.withData !== undefined)
          return runRetryWithData(ops, ids, { ...o, withData: o.withData });
        if (ids.length > 0 === Boolean(o.failed))
          throw new UsageError(`${name}: give job ids or --failed [filters], not both or neither`);
        // With ids, --tenant scopes them: another tenant's job is "no job", like an unknown id.
        const target: Target = o.failed
          ? { filter: filterOf(o) }
          : { ids, tenant: tenantScope(o.tenant) };
        const r = await act(ops, target, { dryRun: o.dryRun, onProgress: progress(name) });
        if (o.json) json(r);
        else summary(r);
        // Explicit ids that do not exist are the caller's problem; anything else already done is fine.
        return r.skipped.some((s) => s.reason === 'not found') ? EXIT.problem : EXIT.ok;
      }),
    );
}

function summary(r: ActionResult): void {
  const verb = r.action === 'retry' ? 'retried' : 'discarded (invoke.failed DISCARDED emitted)';
  const would = r.dryRun ? 'would be ' : '';
  out(
    `${r.matched} matched${r.scanned !== undefined ? ` (${r.scanned} failed jobs scanned)` : ''}`,
  );
  out(`${r.done.length} ${would}${verb}`);
  if (r.action === 'discard')
    out(`${r.removed.length} ${would}removed without emitting (already emitted invoke.failed)`);
  if (r.skipped.length) {
    out(`${r.skipped.length} skipped:`);
    out(table(r.skipped.slice(0, 20), ['id', 'reason']));
    if (r.skipped.length > 20) out(`... and ${r.skipped.length - 20} more (use --json)`);
  }
  if (r.dryRun && r.done.length)
    out(`\nwould ${r.action}: ${r.done.slice(0, 20).join(' ')}${r.done.length > 20 ? ' ...' : ''}`);
}

export const retryCommand = () =>
  bulkCommand(
    'retry',
    'retry failed jobs with a fresh set of attempts (safe to run twice)',
    (ops, t, o) => ops.retry(t, o),
  );
export const discardCommand = () =>
  bulkCommand(
    'discard',
    'discard failed jobs: held jobs emit invoke.failed with DISCARDED, then every job leaves the failed set',
    (ops, t, o) => ops.discard(t, o),
  );
