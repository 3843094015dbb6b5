/** INVOKE_TENANTS parsing: defaults, merging, and errors that name the bad field. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { loadTenantPolicy } from '../../src/fair/policy.js';

describe('INVOKE_TENANTS', () => {
  it('defaults to weight 1 and no limits, with a one-hour deadline', () => {
    const p = loadTenantPolicy('');
    expect(p.resolve('acme')).toEqual({ weight: 1, maxConcurrent: 0, ratePerSecond: 0 });
    expect(p.deadlineMs).toBe(3_600_000);
    expect(p.weights()).toEqual({ fallback: 1, own: [] });
  });

  it('merges a tenant over the default field by field; "" is the tenant of jobs without tenantId', () => {
    const p = loadTenantPolicy(
      JSON.stringify({
        default: { weight: 2, maxConcurrent: 10 },
        tenants: { 'acme.eu': { weight: 5 }, '': { ratePerSecond: 3 }, small: { weight: 2 } },
      }),
    );
    expect(p.resolve('acme.eu')).toEqual({ weight: 5, maxConcurrent: 10, ratePerSecond: 0 });
    expect(p.resolve('')).toEqual({ weight: 2, maxConcurrent: 10, ratePerSecond: 3 });
    expect(p.resolve('other')).toEqual({ weight: 2, maxConcurrent: 10, ratePerSecond: 0 });
    expect(p.weights()).toEqual({ fallback: 2, own: [['acme.eu', 5]] });
  });

  it('reads a file path', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tenants-'));
    try {
      const file = path.join(dir, 'tenants.json');
      writeFileSync(file, JSON.stringify({ tenants: { acme: { maxConcurrent: 4 } } }));
      expect(loadTenantPolicy(file).resolve('acme').maxConcurrent).toBe(4);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it.each([
    [{ tenants: { acme: { weight: 0 } } }, 'INVOKE_TENANTS: tenants["acme"].weight: Too small'],
    [
      { tenants: { 'acme.eu': { maxConcurrent: 1.5 } } },
      'tenants["acme.eu"].maxConcurrent: Invalid input: expected int',
    ],
    [{ tenants: { acme: { ratePerSecond: -1 } } }, 'tenants["acme"].ratePerSecond: Too small'],
    [{ tenants: { acme: { burst: 3 } } }, 'tenants["acme"]: Unrecognized key: "burst"'],
    [{ tenants: { 'bad id!': {} } }, 'tenants["bad id!"]: must be a tenantId'],
    [{ default: { weight: 'x' } }, 'default.weight: Invalid input: expected number'],
    [{ deadlineMs: 10 }, 'deadlineMs: Too small'],
  ])('%j is refused naming the field', (json, message) => {
    expect(() => loadTenantPolicy(JSON.stringify(json))).toThrow(ConfigError);
    expect(() => loadTenantPolicy(JSON.stringify(json))).toThrow(message);
  });

  it('says which source could not be read', () => {
    expect(() => loadTenantPolicy('{nope')).toThrow(/^INVOKE_TENANTS: cannot read JSON/);
    expect(() => loadTenantPolicy('/nonexistent/tenants.json')).toThrow(
      'INVOKE_TENANTS: cannot read file /nonexistent/tenants.json',
    );
  });
});
