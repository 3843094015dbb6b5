import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../src/config.js';
import {
  createVault,
  VaultDecryptError,
  VaultKeyMissingError,
  type VaultKeys,
} from '../../src/vault/index.js';
import {
  cleanNamespace,
  dumpNamespace,
  namespace,
  redisClient,
  type Namespace,
} from '../helpers/redis.js';

const key = () => randomBytes(32);
const VALUE = 'sk_live_Très+secret/value=42';

describe('vault (real Redis)', () => {
  let ns: Namespace;
  let redis: ReturnType<typeof redisClient>;
  const vault = (keys: VaultKeys | undefined) =>
    createVault({ redis, prefix: `test:${ns.id}:vault`, keys });

  beforeEach(() => {
    ns = namespace('vault');
    redis = redisClient();
  });
  afterEach(async () => {
    // No value in clear, in any spelling, anywhere in the namespace after any test.
    const dump = await dumpNamespace(redis, ns);
    for (const spelling of [
      VALUE,
      encodeURIComponent(VALUE),
      Buffer.from(VALUE).toString('base64'),
      JSON.stringify(VALUE).slice(1, -1),
    ]) {
      expect(dump).not.toContain(spelling);
    }
    await cleanNamespace(redis, ns);
    await redis.quit();
  });

  it('stores sealed records per tenant: same name, different tenants, each its own value', async () => {
    const v = vault({ current: key(), old: [] });
    await v.put('acme', 'secret', 'API_KEY', VALUE, { hosts: ['api.acme.test'] });
    await v.put('globex', 'secret', 'API_KEY', 'globex-value', { hosts: ['api.globex.test'] });
    expect((await v.get('acme', 'secret', 'API_KEY'))?.value).toBe(VALUE);
    expect((await v.get('globex', 'secret', 'API_KEY'))?.value).toBe('globex-value');
    expect(await v.get('acme', 'credential', 'API_KEY')).toBeUndefined();
    const list = await v.list('acme', 'secret');
    expect(list).toEqual([
      { name: 'API_KEY', meta: { hosts: ['api.acme.test'] }, updatedAt: expect.any(String) },
    ]);
    expect(JSON.stringify(list)).not.toContain(VALUE);
    expect(await v.delete('acme', 'secret', 'API_KEY')).toBe(true);
    expect(await v.get('acme', 'secret', 'API_KEY')).toBeUndefined();
    expect(await v.delete('acme', 'secret', 'API_KEY')).toBe(false);
    expect((await v.get('globex', 'secret', 'API_KEY'))?.value).toBe('globex-value');
  });

  it('a ciphertext moved to another tenant or name, or with edited metadata, does not open', async () => {
    const v = vault({ current: key(), old: [] });
    await v.put('acme', 'secret', 'API_KEY', VALUE, { hosts: ['api.acme.test'] });
    const prefix = `test:${ns.id}:vault`;
    const raw = (await redis.hget(`${prefix}:{acme}:secret`, 'API_KEY'))!;
    await redis.hset(`${prefix}:{globex}:secret`, 'API_KEY', raw);
    await redis.hset(`${prefix}:{acme}:secret`, 'OTHER', raw);
    await expect(v.get('globex', 'secret', 'API_KEY')).rejects.toBeInstanceOf(VaultDecryptError);
    await expect(v.get('acme', 'secret', 'OTHER')).rejects.toBeInstanceOf(VaultDecryptError);
    const widened = JSON.parse(raw);
    widened.m = JSON.stringify({ hosts: ['*'] });
    await redis.hset(`${prefix}:{acme}:secret`, 'API_KEY', JSON.stringify(widened));
    const err = await v.get('acme', 'secret', 'API_KEY').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultDecryptError);
    expect(String((err as Error).message)).not.toContain(VALUE);
  });

  it('without INVOKE_SECRETS_KEY: put/get refuse, list still works', async () => {
    const v = vault(undefined);
    await expect(v.put('acme', 'secret', 'A', VALUE)).rejects.toBeInstanceOf(VaultKeyMissingError);
    await expect(v.get('acme', 'secret', 'A')).rejects.toBeInstanceOf(VaultKeyMissingError);
    expect(await v.list('acme', 'secret')).toEqual([]);
  });

  it('rotate re-seals everything under the new key; the old key can then be dropped', async () => {
    const oldKey = key();
    const newKey = key();
    const before = vault({ current: oldKey, old: [] });
    for (let i = 0; i < 30; i++)
      await before.put(`t${i % 3}`, 'secret', `S${i}`, `${VALUE}-${i}`, { hosts: ['h.test'] });
    await before.put('', 'token', 'platform', VALUE);

    const during = vault({ current: newKey, old: [oldKey] });
    await during.checkKeys();
    expect((await during.get('t1', 'secret', 'S1'))?.value).toBe(`${VALUE}-1`);
    const report = await during.rotate();
    // The last (clean) pass counts every record as current.
    expect(report).toEqual({ resealed: 31, current: 31, raced: 0, failed: [] });
    expect((await during.rotate()).resealed).toBe(0);

    const after = vault({ current: newKey, old: [] });
    await after.checkKeys();
    for (let i = 0; i < 30; i++)
      expect((await after.get(`t${i % 3}`, 'secret', `S${i}`))?.value).toBe(`${VALUE}-${i}`);
    expect((await after.get('', 'token', 'platform'))?.value).toBe(VALUE);
    await expect(
      vault({ current: oldKey, old: [] }).get('t0', 'secret', 'S0'),
    ).rejects.toBeInstanceOf(VaultDecryptError);
  });

  it('rotation under load: readers and writers on the old and new key never fail while rotate runs', async () => {
    const oldKey = key();
    const newKey = key();
    const before = vault({ current: oldKey, old: [] });
    for (let i = 0; i < 200; i++)
      await before.put(`t${i % 5}`, 'secret', `S${i}`, `${VALUE}-${i}`, { hosts: ['h.test'] });
    // A worker not yet restarted (old key current) keeps writing; an upgraded one reads.
    const lagging = vault({ current: oldKey, old: [] });
    const upgraded = vault({ current: newKey, old: [oldKey] });
    let stop = false;
    const errors: unknown[] = [];
    let reads = 0;
    const load = (async () => {
      for (let n = 0; !stop; n++) {
        const i = n % 200;
        try {
          if (n % 10 === 0)
            await lagging.put(`t${i % 5}`, 'secret', `S${i}`, `${VALUE}-${i}`, {
              hosts: ['h.test'],
            });
          const got = await upgraded.get(`t${i % 5}`, 'secret', `S${i}`);
          if (got?.value !== `${VALUE}-${i}`)
            errors.push(`S${i}: ${got?.value === undefined ? 'missing' : 'wrong value'}`);
          reads++;
        } catch (err) {
          errors.push(err);
        }
      }
    })();
    const report = await upgraded.rotate();
    stop = true;
    await load;
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(report.failed).toEqual([]);
    // Writes under the old key during the rotation are caught by a later run; then all are new.
    await upgraded.rotate();
    const after = vault({ current: newKey, old: [] });
    for (let i = 0; i < 200; i++)
      expect((await after.get(`t${i % 5}`, 'secret', `S${i}`))?.value).toBe(`${VALUE}-${i}`);
  });

  it('checkKeys stops the start naming the variable: key missing, wrong, or old key missing mid-rotation', async () => {
    const a = key();
    const b = key();
    await vault(undefined).checkKeys(); // nothing stored: fine without a key
    await vault({ current: a, old: [] }).put('acme', 'secret', 'S', VALUE);
    await expect(vault(undefined).checkKeys()).rejects.toThrow(/^INVOKE_SECRETS_KEY: not set/);
    await expect(vault({ current: b, old: [] }).checkKeys()).rejects.toThrow(
      /^INVOKE_SECRETS_KEY: does not open/,
    );
    await expect(vault({ current: b, old: [] }).checkKeys()).rejects.toBeInstanceOf(ConfigError);
    // Rotation started (b current, a old) but not run: dropping a is refused.
    await vault({ current: b, old: [a] }).checkKeys();
    await expect(vault({ current: b, old: [] }).checkKeys()).rejects.toThrow(
      /^INVOKE_SECRETS_OLD_KEYS: /,
    );
    await vault({ current: b, old: [a] }).rotate();
    await vault({ current: b, old: [] }).checkKeys();
  });
});
