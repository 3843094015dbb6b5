/**
 * docs/errors.md and ERROR_CODES say the same thing (fastify's errors test): one section and one
 * table row per code, the table's "retried" column matches retryPolicy, and no other
 * code-looking token appears (a renamed or removed code cannot linger in the docs).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ERROR_CODES,
  RETRYABLE_STATUSES,
  retryPolicy,
  type RetryPolicy,
} from '../../src/contract/errors.js';
import { settings } from '../../src/config.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

const RETRIED: Record<RetryPolicy, string> = {
  never: 'no',
  always: 'yes',
  'by-status': [...RETRYABLE_STATUSES].sort((a, b) => a - b).join(', '),
  'if-temporary': 'temporary only',
  'by-rule': 'when `expect.retry` holds',
  delay: 'delayed, not an attempt',
};

describe('docs/errors.md', () => {
  it('has one section per error code, in ERROR_CODES order', () => {
    const sections = [...doc.matchAll(/^## `([^`]+)`$/gm)].map((m) => m[1]);
    expect(sections).toEqual([...ERROR_CODES]);
  });

  it('has one table row per code whose "retried" column matches retryPolicy', () => {
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => [
      m[1],
      m[2]!.trim(),
    ]);
    expect(rows.map(([code]) => code)).toEqual([...ERROR_CODES]);
    for (const [code, retried] of rows)
      expect(retried, code).toBe(RETRIED[retryPolicy(code as (typeof ERROR_CODES)[number])]);
  });

  it('mentions no code-looking token that is not an error code or a setting name', () => {
    const known = new Set<string>([
      ...ERROR_CODES,
      ...Object.keys(settings),
      'INVOKE_SECRET_<NAME>_HOSTS',
      'INVOKE_CREDENTIAL_<NAME>_TENANTS',
      'ERROR_CODES',
      'NOPE',
      'INVOKE_SECRET_NOPE',
    ]);
    const tokens = [
      ...doc.matchAll(/`([A-Z][A-Z0-9_<>]{2,})`|\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/g),
    ].map((m) => m[1] ?? m[2]!);
    expect(tokens.filter((t) => !known.has(t))).toEqual([]);
  });
});
