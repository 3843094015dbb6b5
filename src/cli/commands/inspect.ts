/** invoke-api inspect JOB: data, attempts, log, saved envelope and emitted event of one job. */
import { Command } from 'commander';
import { EXIT, withOps } from '../context.js';
import { tenantScope } from '../../ops/tenant-scope.js';
import { json, out, table } from '../output.js';
import type { JobRecord } from '../../attempts/record.js';

/** A partner's bytes on an operator's terminal: no control characters (escape sequences). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');

/** One record as a few indented lines: what was sent, what came back, the classification. */
export function formatRecord(r: JobRecord): string {
  if (r.kind === 'operator')
    return `operator ${r.at}  ${r.action} by ${r.by}${r.changed.length ? ` (changed: ${r.changed.join(', ')})` : ''}`;
  const lines = [
    `#${r.n} ${r.at}  ${r.method} ${r.url ?? '(not rendered)'} -> ${r.status ?? '-'}${r.code ? ` ${r.code}` : ''} in ${r.durationMs} ms (${r.outcome})`,
  ];
  if (r.detail) lines.push(`  error: ${printable(r.detail)}`);
  if (r.headers)
    lines.push(
      `  sent: ${printable(
        Object.entries(r.headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; '),
      )}`,
    );
  const got = Object.entries(r.responseHeaders);
  if (got.length) lines.push(`  got: ${printable(got.map(([k, v]) => `${k}: ${v}`).join('; '))}`);
  if (r.body !== null)
    lines.push(
      `  body (${r.bodyBytes} bytes${r.bodyTruncated ? ', cut' : ''}): ${printable(r.body)}`,
    );
  return lines.join('\n');
}

export const inspectCommand = () =>
  new Command('inspect')
    .description(
      'one job: data (templates, not secrets), attempts with error codes, log, saved envelope, emitted event',
    )
    .argument('<jobId>', 'the job id (ik.<runId>.<stepId>.<visit> for client-enqueued jobs)')
    .option(
      '--tenant <tenantId>',
      'only a job of this tenant (- = without tenantId); another tenant\'s is "no job"',
    )
    .option('--json', 'machine-readable output')
    .action((id: string, o: { json?: boolean; tenant?: string }) =>
      withOps(async (ops) => {
        const j = await ops.inspect(id, tenantScope(o.tenant));
        if (!j) {
          process.stderr.write(`invoke-api: no job ${id}\n`);
          return EXIT.problem;
        }
        if (o.json) return void json(j);
        out(`job ${j.id}  state ${j.state}  attempts ${j.attemptsMade}/${j.opts.attempts ?? 1}`);
        out(
          `created ${j.createdAt}  processed ${j.processedAt ?? '-'}  finished ${j.finishedAt ?? '-'}`,
        );
        if (j.failedReason) out(`failed: ${j.failedReason}`);
        out('\nattempts:');
        if (j.records.length) out(j.records.map(formatRecord).join('\n'));
        else
          out(
            table(
              j.attempts.map((a) => ({
                n: a.n,
                status: a.status,
                code: a.code,
                outcome: a.outcome,
                line: a.line,
              })),
              ['n', 'status', 'code', 'outcome', 'line'],
            ),
          );
        out('\ndata:');
        out(JSON.stringify(j.data, null, 2));
        out('\nsaved envelope:');
        out(j.envelope === null ? '(none)' : JSON.stringify(j.envelope, null, 2));
        out(`\nemitted events (newest ${j.eventsScanned} stream entries searched):`);
        out(j.events.length ? j.events.map((e) => JSON.stringify(e)).join('\n') : '(none)');
      }),
    );
