/** docs/contract.md matches the zod schemas, the jobId derivation, the codes and the settings. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { invokeJobSchema, requestSchema } from '../../src/contract/job.js';
import { envelopeSchema } from '../../src/contract/envelope.js';
import { continuationEventSchema } from '../../src/contract/event.js';
import { idempotencyKey, parseIdempotencyKey } from '../../src/contract/idempotency.js';
import { ERROR_CODES } from '../../src/contract/errors.js';
import { settings } from '../../src/config.js';

const doc = readFileSync(new URL('../../docs/contract.md', import.meta.url), 'utf8');
const lines = doc.split('\n');

/** Rows (cells, backticks stripped) of the first table after the line containing `marker`. */
function tableAfter(marker: string): string[][] {
  const start = lines.findIndex((l) => l.includes(marker));
  expect(start, marker).toBeGreaterThanOrEqual(0);
  const first = lines.findIndex((l, i) => i > start && l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first + 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(
      lines[i]!.split('|')
        .slice(1, -1)
        .map((c) => c.trim().replace(/^`|`$/g, '')),
    );
  }
  return rows;
}
const firstColumn = (marker: string) => tableAfter(marker).map((r) => r[0]);

describe('docs/contract.md', () => {
  it('lists exactly the job, request, envelope and event fields of the schemas', () => {
    expect(firstColumn('### Job data')).toEqual(Object.keys(invokeJobSchema.shape));
    expect(firstColumn('`request` (`requestSchema`)')).toEqual(Object.keys(requestSchema.shape));
    expect(firstColumn('## 2. What the worker stores')).toEqual(Object.keys(envelopeSchema.shape));
    expect(firstColumn('## 3. The continuation event')).toEqual(
      Object.keys(continuationEventSchema.shape),
    );
  });

  it('gives jobId examples that idempotencyKey produces and parseIdempotencyKey reverses', () => {
    const rows = tableAfter('### Idempotency key and job id');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const [runId, stepId, visit, jobId] of rows) {
      const parts = { runId: runId!, stepId: stepId!, visit: Number(visit) };
      expect(idempotencyKey(parts)).toBe(jobId);
      expect(parseIdempotencyKey(jobId!)).toEqual(parts);
    }
  });

  it('names every error code and only real configuration variables', () => {
    const section4 = doc.slice(doc.indexOf('## 4.'), doc.indexOf('## 5.'));
    expect([...section4.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1])).toEqual([...ERROR_CODES]);
    const names = [...doc.matchAll(/`((?:INVOKE|REDIS|BULLMQ|LOG|PORT)[A-Z0-9_<>]*)`/g)].map(
      (m) => m[1]!,
    );
    const unknown = names.filter(
      (n) =>
        !(n in settings) && !n.startsWith('INVOKE_SECRET_') && !n.startsWith('INVOKE_CREDENTIAL_'),
    );
    expect(unknown).toEqual([]);
  });
});
