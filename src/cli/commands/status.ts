/** invoke-api status: counts per state, recent throughput and failure rate, oldest waiting, workers. */
import { Command } from 'commander';
import { UsageError, withOps } from '../context.js';
import type { Ops } from '../../ops/index.js';
import { age, json, out, table } from '../output.js';

export const statusCommand = () =>
  new Command('status')
    .description(
      'counts per state, throughput and failure rate over recent minutes, oldest waiting job, workers connected',
    )
    .option('--minutes <n>', 'window for throughput and failure rate', '15')
    .option('--by <what>', 'tenant: jobs waiting in the fair-share index per tenant, largest first')
    .option('--limit <n>', 'with --by tenant: tenants listed (the rest summed)', '50')
    .option('--json', 'machine-readable output')
    .action((o: { minutes: string; json?: boolean; by?: string; limit: string }) =>
      withOps(async (ops) => {
        if (o.by !== undefined) return byTenant(ops, o);
        const s = await ops.status(Math.max(1, Math.min(10080, Number(o.minutes) || 15)));
        if (o.json) return void json(s);
        out(`queue ${s.queue}${s.paused ? '  (PAUSED)' : ''}`);
        out(
          table(
            Object.entries(s.counts).map(([state, count]) => ({ state, count })),
            ['state', 'count'],
          ),
        );
        const r = s.recent;
        out(
          `\nlast ${r.minutes} min: ${r.completed} completed, ${r.failed} failed, ${r.perMinute.toFixed(1)}/min, failure rate ${(r.failureRate * 100).toFixed(1)}%`,
        );
        out(`oldest waiting: ${age(s.oldestWaitingAgeMs)}`);
        out(`workers connected: ${s.workers.length}`);
        if (s.callbacks)
          out(
            `waiting for callbacks: ${s.callbacks.waiting}, held after CALLBACK_TIMEOUT: ${s.callbacks.held}`,
          );
        const open = s.destinations.filter((d) => d.breaker !== 'closed');
        out(
          `destinations: ${s.destinations.length} seen, ${open.length} with breaker not closed${open.length ? `: ${open.map((d) => `${d.host} (${d.breaker})`).join(', ')}` : ''}`,
        );
      }),
    );

async function byTenant(
  ops: Ops,
  o: { by?: string; limit: string; json?: boolean },
): Promise<void> {
  if (o.by !== 'tenant')
    throw new UsageError(`--by: expected "tenant", got ${JSON.stringify(o.by)}`);
  const w = await ops.byTenant(Math.max(1, Math.min(10_000, Number(o.limit) || 50)));
  if (o.json) return void json(w);
  out(`waiting in the fair-share index: ${w.total} jobs of ${w.tenants} tenants`);
  const rows = w.top.map((t) => ({ tenant: t.tenant, waiting: t.waiting }));
  if (w.others > 0)
    rows.push({ tenant: `(${w.tenants - w.top.length} others)`, waiting: w.others });
  if (rows.length) out(table(rows, ['tenant', 'waiting']));
}
