/** invoke-api failed: list or group failures, newest first, with filters. */
import { Command, Option } from 'commander';
import { GROUP_KEYS, type GroupKey } from '../../ops/failure.js';
import type { FilterInput } from '../../ops/failure.js';
import { withOps } from '../context.js';
import { age, json, out, table } from '../output.js';
import { filterOf, withFilters } from './filters.js';

type Opts = FilterInput & { groupBy?: GroupKey; limit: string; json?: boolean };

export const failedCommand = () =>
  withFilters(
    new Command('failed').description(
      'list failed jobs (newest first) or group them by host, code, status or journey',
    ),
  )
    .addOption(new Option('--group-by <key>', 'count failures per key').choices(GROUP_KEYS))
    .option('--limit <n>', 'most failures listed (grouping counts them all)', '50')
    .option('--json', 'machine-readable output')
    .action((o: Opts) =>
      withOps(async (ops) => {
        const filter = filterOf(o);
        if (o.groupBy) {
          const g = await ops.groupFailed(filter, o.groupBy);
          if (o.json) return void json(g);
          out(
            table(
              g.groups.map((x) => ({ [g.by]: x.key, count: x.count, example: x.example })),
              [g.by, 'count', 'example'],
            ),
          );
          return void out(
            `\n${g.total} failed jobs matched (${g.scanned} scanned${g.truncated ? ', stopped at the scan cap' : ''})`,
          );
        }
        const list = await ops.failed(filter, Math.max(1, Number(o.limit) || 50));
        if (o.json) return void json(list);
        const now = Date.now();
        out(
          table(
            list.failures.map((f) => ({
              ...f,
              ago: age(now - f.failedAt),
              status: f.status,
              held: f.held ? 'yes' : '',
            })),
            ['id', 'tenant', 'journey', 'host', 'code', 'status', 'attempts', 'ago', 'held'],
          ),
        );
        out(
          `\n${list.failures.length} shown${list.truncated ? ` (more match: raise --limit or use --group-by)` : ''}`,
        );
      }),
    );
