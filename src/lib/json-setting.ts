/**
 * A setting given as JSON inline ('{...}') or as a file path, checked with a zod schema, with
 * errors naming the setting and the path (INVOKE_DESTINATIONS, INVOKE_TENANTS). Keys of the
 * record named `recordKey` are quoted in paths, since host names and tenant ids contain dots:
 * hosts["api.partner.com"].ratePerSecond, tenants["acme.eu"].weight.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from '../config.js';

export function loadJsonSetting<S extends z.ZodType>(
  name: string,
  raw: string,
  schema: S,
  recordKey: string,
): z.output<S> {
  const text = raw.trim();
  if (text === '') return schema.parse({});
  const inline = text.startsWith('{');
  let json: unknown;
  try {
    json = JSON.parse(inline ? text : readFileSync(text, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      `${name}: cannot read ${inline ? 'JSON' : `file ${text}`}: ${(err as Error).message}`,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${name}: ${describeIssues(parsed.error, recordKey)}`);
  return parsed.data;
}

function describeIssues(error: z.ZodError, recordKey: string): string {
  const part = (k: PropertyKey, i: number, p: PropertyKey[]) => {
    if (typeof k === 'number') return `[${k}]`;
    if (i === 1 && p[0] === recordKey) return `[${JSON.stringify(k)}]`;
    return `${i ? '.' : ''}${String(k)}`;
  };
  const path = (p: PropertyKey[]) => p.map(part).join('') || '(root)';
  // A bad record key reports "Invalid key in record"; the reason is in the nested issues.
  const message = (i: z.core.$ZodIssue) =>
    i.code === 'invalid_key' ? i.issues.map((x) => x.message).join(', ') : i.message;
  return error.issues.map((i) => `${path(i.path)}: ${message(i)}`).join('; ');
}
