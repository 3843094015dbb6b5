/** `invoke-api retry JOB --with-data data.json`: one job, corrected data, on record. */
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { InvalidJobError } from '../../contract/invalid-job.js';
import type { Ops } from '../../ops/index.js';
import { RetryRefusedError } from '../../ops/index.js';
import { tenantScope } from '../../ops/tenant-scope.js';
import { EXIT, UsageError } from '../context.js';
import { json, out } from '../output.js';

export interface WithDataOpts {
  withData: string;
  by?: string;
  dryRun?: boolean;
  json?: boolean;
  tenant?: string;
}

/** Who runs the CLI: --by, else the OS user at this host. */
export function operatorName(by: string | undefined): string {
  if (by) return by;
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

function readData(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--with-data ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(
      `--with-data ${file}: not JSON (${(err as Error).message}); give the job's new "data" object, e.g. {"customer": {"email": "a@b.co"}}`,
    );
  }
}

export async function runRetryWithData(ops: Ops, ids: string[], o: WithDataOpts): Promise<number> {
  if (ids.length !== 1) throw new UsageError('retry --with-data: give exactly one job id');
  const data = readData(o.withData);
  try {
    const r = await ops.retryWithData(ids[0]!, data, {
      by: operatorName(o.by),
      dryRun: o.dryRun,
      tenant: tenantScope(o.tenant),
    });
    if (o.json) json(r);
    else {
      out(
        `${r.id}: ${r.dryRun ? 'would be retried' : 'retried'} with new data (same idempotency key)`,
      );
      out(`changed: ${r.changed.length ? r.changed.join(', ') : '(nothing)'}`);
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof InvalidJobError) {
      process.stderr.write(
        `invoke-api: ${o.withData} does not make a valid job; nothing changed:\n${err.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\n`,
      );
      return EXIT.problem;
    }
    if (err instanceof RetryRefusedError) {
      process.stderr.write(`invoke-api: ${err.message}\n`);
      return EXIT.problem;
    }
    throw err;
  }
}
