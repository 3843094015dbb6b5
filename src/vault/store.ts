/**
 * The vault: small secret records, encrypted (cipher.ts), in Redis, keyed by tenant/kind/name.
 * Tenant secrets use kind 'secret'; partner credentials and cached tokens use their own kinds
 * (e.g. 'credential', 'token') and so share the encryption, key rotation and start-up key check.
 *
 *   const vault = createVault({ redis, prefix: cfg.INVOKE_VAULT_PREFIX, keys: vaultKeys(cfg) });
 *   await vault.checkKeys();                          // at start: ConfigError naming the variable
 *   await vault.put(tenant, 'secret', 'API_KEY', value, { hosts: ['api.partner.com'] });
 *   await vault.get(tenant, 'secret', 'API_KEY');     // { value, meta, updatedAt } | undefined
 *   await vault.getAll(tenant, 'secret');             // every record opened, or { name, error }
 *   await vault.list(tenant, 'secret');               // [{ name, meta, updatedAt }] (never a value)
 *   await vault.delete(tenant, 'secret', 'API_KEY');  // true when it existed
 *   await vault.rotate();                             // re-seal every record under the current key
 *
 * `tenant` is a tenantId (contract 6.1) or '' for platform-wide records. `meta` is small clear
 * JSON (e.g. hosts): readable by list, but bound into the AAD, so editing it in Redis makes the
 * record fail to decrypt rather than, say, widen the hosts a secret may be sent to.
 * get() throws VaultDecryptError when a record cannot be opened (unknown key, altered, moved);
 * put/get throw VaultKeyMissingError when INVOKE_SECRETS_KEY is not set.
 *
 * Redis layout (values never in clear):
 *   <prefix>:{<tenant>}:<kind>   hash  name -> JSON { k: key id, n: nonce, c: ciphertext+tag, m: meta JSON, u: updatedAt ms }
 *   <prefix>:index               set   of the hashes above (what rotate walks; SCAN-free, Cluster-safe)
 *   <prefix>:kids                hash  key id -> a sealed canary: which keys records may be sealed with
 * The hash tag {<tenant>} keeps one tenant's records in one slot on Redis Cluster.
 */
import type { RedisClient } from '../redis.js';
import { ConfigError } from '../config.js';
import {
  createCipher,
  decodeKey,
  type Cipher,
  type Sealed,
  type VaultKeys,
  VaultDecryptError,
} from './cipher.js';

export { VaultDecryptError } from './cipher.js';
export type { VaultKeys } from './cipher.js';

export type VaultMeta = Record<string, unknown>;
export interface VaultEntry {
  name: string;
  meta: VaultMeta;
  updatedAt: string;
}
export interface VaultRecord extends VaultEntry {
  value: string;
}
export interface RotateReport {
  /** Records re-sealed under the current key. */
  resealed: number;
  /** Records already under the current key. */
  current: number;
  /** Records changed by someone else while being re-sealed (left as written; the next pass looks again). */
  raced: number;
  /** Records that no configured key opens: tenant/kind/name, never a value. */
  failed: string[];
}

export class VaultKeyMissingError extends Error {
  override name = 'VaultKeyMissingError';
  constructor() {
    super('INVOKE_SECRETS_KEY is not set: tenant secrets and credentials are unavailable');
  }
}

const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const KIND = /^[a-z][a-z0-9-]{0,31}$/;
const NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** Largest value the vault seals (a credential JSON fits; routes set tighter limits). */
export const MAX_VAULT_VALUE_BYTES = 64 * 1024;
const CANARY = 'invoke-vault-canary';

/** The keys from config, or undefined when INVOKE_SECRETS_KEY is not set. */
export function vaultKeys(cfg: {
  INVOKE_SECRETS_KEY?: string | undefined;
  INVOKE_SECRETS_OLD_KEYS: string[];
}): VaultKeys | undefined {
  if (!cfg.INVOKE_SECRETS_KEY) return undefined;
  return {
    current: decodeKey(cfg.INVOKE_SECRETS_KEY),
    old: cfg.INVOKE_SECRETS_OLD_KEYS.map(decodeKey),
  };
}

export interface VaultOptions {
  redis: RedisClient;
  prefix: string;
  keys: VaultKeys | undefined;
}

export type Vault = ReturnType<typeof createVault>;

export function createVault({ redis, prefix, keys }: VaultOptions) {
  const cipher: Cipher | undefined = keys ? createCipher(keys) : undefined;
  const indexKey = `${prefix}:index`;
  const kidsKey = `${prefix}:kids`;
  let canaryWritten = false;

  const hashKey = (tenant: string, kind: string) => {
    if (tenant !== '' && !TENANT.test(tenant))
      throw new TypeError('tenant must match ^[A-Za-z0-9._-]{1,64}$');
    if (!KIND.test(kind)) throw new TypeError('vault kind must match ^[a-z][a-z0-9-]{0,31}$');
    return `${prefix}:{${tenant === '' ? '*' : tenant}}:${kind}`;
  };
  const checkName = (name: string) => {
    if (!NAME.test(name))
      throw new TypeError('vault record name must match ^[A-Za-z0-9._-]{1,128}$');
  };
  /** What the ciphertext is bound to: moving it to another tenant, kind or name, or editing meta, breaks it. */
  const aad = (tenant: string, kind: string, name: string, metaJson: string) =>
    JSON.stringify(['invoke-vault/1', tenant, kind, name, metaJson]);
  const need = (): Cipher => {
    if (!cipher) throw new VaultKeyMissingError();
    return cipher;
  };

  interface Stored extends Sealed {
    m: string;
    u: number;
  }
  const parse = (raw: string): Stored => JSON.parse(raw) as Stored;

  async function ensureCanary(c: Cipher): Promise<void> {
    if (canaryWritten) return;
    await redis.hsetnx(kidsKey, c.currentKid, JSON.stringify(c.seal(CANARY, 'canary')));
    canaryWritten = true;
  }

  return {
    /** True when INVOKE_SECRETS_KEY is set. */
    enabled: cipher !== undefined,

    async put(
      tenant: string,
      kind: string,
      name: string,
      value: string,
      meta: VaultMeta = {},
    ): Promise<void> {
      const key = hashKey(tenant, kind);
      checkName(name);
      if (Buffer.byteLength(value, 'utf8') > MAX_VAULT_VALUE_BYTES)
        throw new TypeError(`value longer than ${MAX_VAULT_VALUE_BYTES} bytes`);
      const c = need();
      await ensureCanary(c);
      const m = JSON.stringify(meta);
      const record: Stored = { ...c.seal(value, aad(tenant, kind, name, m)), m, u: Date.now() };
      await redis.hset(key, name, JSON.stringify(record));
      await redis.sadd(indexKey, key);
    },

    async get(tenant: string, kind: string, name: string): Promise<VaultRecord | undefined> {
      const key = hashKey(tenant, kind);
      checkName(name);
      const c = need();
      const raw = await redis.hget(key, name);
      if (raw === null) return undefined;
      let rec: Stored;
      try {
        rec = parse(raw);
      } catch {
        throw new VaultDecryptError('tampered', '?');
      }
      const value = c.open(rec, aad(tenant, kind, name, rec.m));
      return {
        name,
        value,
        meta: JSON.parse(rec.m) as VaultMeta,
        updatedAt: new Date(rec.u).toISOString(),
      };
    },

    /**
     * Every record of a tenant and kind, opened: one HGETALL. A record that does not open is
     * returned with its error in place of a value, so one bad record does not hide the others.
     */
    async getAll(
      tenant: string,
      kind: string,
    ): Promise<
      Array<VaultRecord | { name: string; error: VaultDecryptError | VaultKeyMissingError }>
    > {
      const all = await redis.hgetall(hashKey(tenant, kind));
      const out: Array<
        VaultRecord | { name: string; error: VaultDecryptError | VaultKeyMissingError }
      > = [];
      for (const [name, raw] of Object.entries(all)) {
        if (!cipher) {
          out.push({ name, error: new VaultKeyMissingError() });
          continue;
        }
        try {
          const rec = parse(raw);
          const value = cipher.open(rec, aad(tenant, kind, name, rec.m));
          out.push({
            name,
            value,
            meta: JSON.parse(rec.m) as VaultMeta,
            updatedAt: new Date(rec.u).toISOString(),
          });
        } catch (err) {
          out.push({
            name,
            error: err instanceof VaultDecryptError ? err : new VaultDecryptError('tampered', '?'),
          });
        }
      }
      return out;
    },

    async delete(tenant: string, kind: string, name: string): Promise<boolean> {
      const key = hashKey(tenant, kind);
      checkName(name);
      return (await redis.hdel(key, name)) > 0;
    },

    /** Names, clear metadata and update times; works without the key (nothing is decrypted). */
    async list(tenant: string, kind: string): Promise<VaultEntry[]> {
      const all = await redis.hgetall(hashKey(tenant, kind));
      const out: VaultEntry[] = [];
      for (const [name, raw] of Object.entries(all)) {
        try {
          const rec = parse(raw);
          out.push({
            name,
            meta: JSON.parse(rec.m) as VaultMeta,
            updatedAt: new Date(rec.u).toISOString(),
          });
        } catch {
          out.push({ name, meta: {}, updatedAt: new Date(0).toISOString() });
        }
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    /**
     * Start-up check. Stops the process (ConfigError naming the variable) when records exist
     * that the configured keys cannot open: INVOKE_SECRETS_KEY missing or wrong, or the
     * previous key missing from INVOKE_SECRETS_OLD_KEYS while a rotation is unfinished.
     */
    async checkKeys(): Promise<void> {
      const kids = await redis.hgetall(kidsKey);
      const stored = Object.keys(kids);
      if (stored.length === 0) return;
      if (!cipher)
        throw new ConfigError(
          `INVOKE_SECRETS_KEY: not set, but secrets sealed with key id ${stored.join(', ')} are stored in Redis (${prefix}); set it to the key they were sealed with`,
        );
      const openable = (kid: string) => {
        try {
          return cipher.open(JSON.parse(kids[kid]!) as Sealed, 'canary') === CANARY;
        } catch {
          return false;
        }
      };
      const bad = stored.filter((kid) => !openable(kid));
      if (bad.length === stored.length)
        throw new ConfigError(
          `INVOKE_SECRETS_KEY: does not open the stored secrets (sealed with key id ${stored.join(', ')}; this key's id is ${cipher.currentKid})`,
        );
      if (bad.length > 0)
        throw new ConfigError(
          `INVOKE_SECRETS_OLD_KEYS: secrets sealed with key id ${bad.join(', ')} are stored but no configured key opens them; list the previous key there until 'invoke-api secrets rotate-key' has run`,
        );
      await ensureCanary(cipher);
    },

    /**
     * Re-seals every record that is not under the current key, one compare-and-set per record
     * (a record written meanwhile is left alone: its writer sealed it with its own current key,
     * and a second run picks it up if that was an old one). Workers keep reading throughout,
     * since every old key still opens. Only when no record is left under another key are the
     * other keys' canaries removed, after which those keys may be dropped from
     * INVOKE_SECRETS_OLD_KEYS.
     */
    async rotate(): Promise<RotateReport> {
      const c = need();
      await ensureCanary(c);
      const report: RotateReport = { resealed: 0, current: 0, raced: 0, failed: [] };
      // Passes until one finds nothing to re-seal (a record written under an old key by a
      // process not yet restarted with the new one is caught by the next pass), at most three.
      let clean = false;
      for (let pass = 0; pass < 3 && !clean; pass++) {
        const round: RotateReport = { resealed: 0, current: 0, raced: 0, failed: [] };
        let cursor = '0';
        do {
          const [next, hashes] = await redis.sscan(indexKey, cursor, 'COUNT', 100);
          cursor = next;
          for (const key of hashes) await rotateHash(c, key, round);
        } while (cursor !== '0');
        report.resealed += round.resealed;
        report.raced += round.raced;
        report.current = round.current;
        report.failed = round.failed;
        clean = round.resealed === 0 && round.raced === 0;
      }
      if (clean && report.failed.length === 0) {
        const others = (await redis.hkeys(kidsKey)).filter((kid) => kid !== c.currentKid);
        if (others.length > 0) await redis.hdel(kidsKey, ...others);
      }
      return report;
    },
  };

  async function rotateHash(c: Cipher, key: string, report: RotateReport): Promise<void> {
    const match = /^(.*):\{([^}]*)\}:([^:]+)$/.exec(key.slice(prefix.length));
    if (!match) return;
    const tenant = match[2] === '*' ? '' : match[2]!;
    const kind = match[3]!;
    const all = await redis.hgetall(key);
    for (const [name, raw] of Object.entries(all)) {
      let rec: Stored;
      try {
        rec = parse(raw);
      } catch {
        report.failed.push(`${tenant}/${kind}/${name}`);
        continue;
      }
      if (rec.k === c.currentKid) {
        report.current++;
        continue;
      }
      let value: string;
      try {
        value = c.open(rec, aad(tenant, kind, name, rec.m));
      } catch {
        report.failed.push(`${tenant}/${kind}/${name}`);
        continue;
      }
      const fresh: Stored = {
        ...c.seal(value, aad(tenant, kind, name, rec.m)),
        m: rec.m,
        u: rec.u,
      };
      const swapped = (await redis.eval(CAS, 1, key, name, raw, JSON.stringify(fresh))) as number;
      if (swapped === 1) report.resealed++;
      else report.raced++;
    }
  }
}

/** Replace a hash field only if it still holds what we read (compare-and-set per record). */
const CAS = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0`;
