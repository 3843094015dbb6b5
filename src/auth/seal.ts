/**
 * Cached access tokens are sealed with the vault's cipher (vault/cipher.ts: AES-256-GCM under
 * INVOKE_SECRETS_KEY, key ids so INVOKE_SECRETS_OLD_KEYS still open during a rotation), with
 * the record's Redis key as additional data: a sealed token copied under another credential's
 * key does not open. A record no key opens reads as absent, so a new token is requested.
 */
import type { Cipher } from '../vault/index.js';

export interface Sealer {
  seal(plain: string, aad: string): string;
  /** undefined when no key opens it (tampered, other key, other aad). */
  open(sealed: string, aad: string): string | undefined;
}

export function sealerFrom(cipher: Cipher): Sealer {
  return {
    seal: (plain, aad) => JSON.stringify(cipher.seal(plain, aad)),
    open(sealed, aad) {
      try {
        return cipher.open(JSON.parse(sealed), aad);
      } catch {
        return undefined;
      }
    },
  };
}
