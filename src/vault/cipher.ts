/**
 * AES-256-GCM (node:crypto) under INVOKE_SECRETS_KEY, with the previous keys of
 * INVOKE_SECRETS_OLD_KEYS still accepted for decryption during a rotation.
 *
 * Every ciphertext carries the id of the key that sealed it (`kid`: 8 bytes of SHA-256 over a
 * label and the key, so the key itself is never stored or logged) and is sealed with
 * additional authenticated data (AAD) supplied by the caller: the vault binds tenant, kind,
 * name and the record's clear metadata, so a ciphertext copied to another tenant or name, or
 * whose `hosts` were edited in Redis, fails authentication instead of decrypting.
 * A fresh 96-bit random nonce per seal (NIST SP 800-38D 8.2.2; far below 2^32 seals per key).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface Sealed {
  /** Key id (hex) of the key that sealed it. */
  k: string;
  /** Nonce, base64. */
  n: string;
  /** Ciphertext followed by the 16-byte GCM tag, base64. */
  c: string;
}

export interface VaultKeys {
  /** INVOKE_SECRETS_KEY: seals, and opens. */
  current: Buffer;
  /** INVOKE_SECRETS_OLD_KEYS: open only. */
  old: Buffer[];
}

/** Decryption failed: unknown key id, or the ciphertext or its AAD was altered. Never carries the value. */
export class VaultDecryptError extends Error {
  override name = 'VaultDecryptError';
  constructor(
    readonly reason: 'unknown-key' | 'tampered',
    readonly kid: string,
  ) {
    super(
      reason === 'unknown-key'
        ? `sealed with key ${kid}, which is neither INVOKE_SECRETS_KEY nor in INVOKE_SECRETS_OLD_KEYS`
        : `authentication failed (key ${kid}): altered, moved, or sealed with another key`,
    );
  }
}

export const keyId = (key: Buffer): string =>
  createHash('sha256').update('invoke-vault-kid\0').update(key).digest('hex').slice(0, 16);

/** base64 of 32 bytes -> key (config.ts has already validated the shape). */
export const decodeKey = (b64: string): Buffer => Buffer.from(b64.trim(), 'base64');

export interface Cipher {
  readonly currentKid: string;
  /** Key ids this process can open. */
  readonly kids: ReadonlySet<string>;
  seal(plaintext: string, aad: string): Sealed;
  /** Throws VaultDecryptError. */
  open(sealed: Sealed, aad: string): string;
}

const TAG_BYTES = 16;

export function createCipher(keys: VaultKeys): Cipher {
  const byKid = new Map<string, Buffer>();
  for (const key of [keys.current, ...keys.old]) {
    if (key.length !== 32) throw new Error('vault keys must be 32 bytes');
    byKid.set(keyId(key), key);
  }
  const currentKid = keyId(keys.current);
  return {
    currentKid,
    kids: new Set(byKid.keys()),
    seal(plaintext, aad) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keys.current, nonce);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([
        cipher.update(plaintext, 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return { k: currentKid, n: nonce.toString('base64'), c: body.toString('base64') };
    },
    open(sealed, aad) {
      const key = byKid.get(sealed.k);
      if (!key) throw new VaultDecryptError('unknown-key', sealed.k);
      try {
        const body = Buffer.from(sealed.c, 'base64');
        if (body.length < TAG_BYTES) throw new Error('short');
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.n, 'base64'), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(body.subarray(0, body.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new VaultDecryptError('tampered', sealed.k);
      }
    },
  };
}
