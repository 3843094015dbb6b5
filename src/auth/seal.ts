/**
 * Authenticated encryption of what the auth stage keeps in Redis (access tokens): AES-256-GCM
 * (node:crypto) under INVOKE_SECRETS_KEY, a fresh 96-bit IV per record (NIST SP 800-38D 8.2.2),
 * and the record's Redis key as additional data, so a sealed token copied under another
 * credential's key does not open. INVOKE_SECRETS_OLD_KEYS still open during a key rotation.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface Sealer {
  seal(plain: string, aad: string): string;
  /** undefined when no key opens it (tampered, other key, other aad): the record is treated as absent. */
  open(sealed: string, aad: string): string | undefined;
}

const VERSION = 'g1';

export function createSealer(key: string, oldKeys: readonly string[] = []): Sealer {
  const keys = [key, ...oldKeys].map((k) => Buffer.from(k.trim(), 'base64'));
  const current = keys[0]!;
  return {
    seal(plain, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(aad));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    },
    open(sealed, aad) {
      if (!sealed.startsWith(`${VERSION}.`)) return undefined;
      const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64');
      if (raw.length < 28) return undefined;
      for (const k of keys) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, 12));
          decipher.setAAD(Buffer.from(aad));
          decipher.setAuthTag(raw.subarray(12, 28));
          return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
        } catch {
          // Not this key: try the next one.
        }
      }
      return undefined;
    },
  };
}
