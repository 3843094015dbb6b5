/**
 * Callback tokens (contract v1.1 section 6.5): a sealed capability naming one job, one enqueue of
 * it and one generation of its call. The token is AES-256-GCM over
 *
 *   version (1 byte) | generation (uint32) | job timestamp (uint64 ms) | jobId (UTF-8)
 *
 * so it is unforgeable (the GCM tag is a 128-bit MAC under a key from configuration), opaque
 * (a partner learns no run or step id from it), and routes itself: opening it names the job,
 * with no token index in Redis and nothing of the token stored there at all. The IV is derived
 * from the plaintext (HMAC, the SIV construction of RFC 5297 section 1.3.3 in spirit): the same
 * job and generation always give the same token, so every retry of the call sends the partner
 * the same callback URL, and an IV repeats only for an identical plaintext.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';

export const TOKEN_PREFIX = 'icb_';
/** What a token looks like; the scrubber removes anything of this shape from logs and errors. */
export const TOKEN_PATTERN = /icb_[A-Za-z0-9_-]{40,}/gi;
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + 8;
/** A jobId holds two ids of up to 200 characters, percent-encoded: at most about 3.6 KB. */
export const MAX_TOKEN_CHARS = 8192;

export interface CallbackClaim {
  jobId: string;
  /** BullMQ's job timestamp: tells this enqueue of the id from a later one after retention. */
  ts: number;
  /** Bumped by an operator's retry: older generations complete nothing. */
  gen: number;
}

export interface TokenKeys {
  enc: Buffer;
  iv: Buffer;
}

/** Two independent subkeys (encryption, IV derivation) from one configured 32-byte key (RFC 5869). */
export function deriveTokenKeys(
  base64Key: string,
  info = 'invoke-api callback token v1',
): TokenKeys {
  const okm = Buffer.from(
    hkdfSync('sha256', Buffer.from(base64Key.trim(), 'base64'), Buffer.alloc(0), info, 64),
  );
  return { enc: okm.subarray(0, 32), iv: okm.subarray(32) };
}

/**
 * INVOKE_CALLBACK_KEY, else a key derived from INVOKE_SECRETS_KEY under another HKDF label (so
 * the secrets key itself never seals tokens); undefined when neither is set.
 */
export function tokenKeysFrom(cfg: {
  INVOKE_CALLBACK_KEY?: string | undefined;
  INVOKE_SECRETS_KEY?: string | undefined;
}): TokenKeys | undefined {
  if (cfg.INVOKE_CALLBACK_KEY) return deriveTokenKeys(cfg.INVOKE_CALLBACK_KEY);
  if (cfg.INVOKE_SECRETS_KEY)
    return deriveTokenKeys(cfg.INVOKE_SECRETS_KEY, 'invoke-api callback token v1 from secrets key');
  return undefined;
}

export function sealToken(keys: TokenKeys, claim: CallbackClaim): string {
  const id = Buffer.from(claim.jobId, 'utf8');
  const plain = Buffer.alloc(HEADER_BYTES + id.length);
  plain.writeUInt8(VERSION, 0);
  plain.writeUInt32BE(claim.gen, 1);
  plain.writeBigUInt64BE(BigInt(claim.ts), 5);
  id.copy(plain, HEADER_BYTES);
  const iv = createHmac('sha256', keys.iv).update(plain).digest().subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.enc, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return TOKEN_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The claim, or undefined for anything not sealed with these keys (forged, altered, truncated). */
export function openToken(keys: TokenKeys, token: string): CallbackClaim | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > MAX_TOKEN_CHARS) return undefined;
  const raw = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
  if (raw.length < IV_BYTES + HEADER_BYTES + 1 + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.enc, raw.subarray(0, IV_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]);
    if (plain.readUInt8(0) !== VERSION) return undefined;
    return {
      gen: plain.readUInt32BE(1),
      ts: Number(plain.readBigUInt64BE(5)),
      jobId: plain.subarray(HEADER_BYTES).toString('utf8'),
    };
  } catch {
    return undefined; // the GCM tag did not verify
  }
}
