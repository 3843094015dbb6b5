/**
 * Secrets in templates: secrets.NAME reads INVOKE_SECRET_NAME. Each render records which
 * secrets it touched (to enforce INVOKE_SECRET_NAME_HOSTS bindings), and the scrubber removes
 * every secret value, raw or URL-encoded, and every callback token from text that leaves the
 * worker (error messages, logs, the dry-run's rendered request).
 */
import type { Secret } from '../config.js';
import { TOKEN_PATTERN } from '../callbacks/token.js';

export const REDACTED = '[REDACTED]';

/** A fresh secrets object per render: own-property getters (liquidjs ownPropertyOnly) that log use. */
export function secretsScope(secrets: ReadonlyMap<string, Secret>, used: Set<string>): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const [name, secret] of secrets) {
    Object.defineProperty(scope, name, {
      enumerable: true,
      get: () => {
        used.add(name);
        return secret.value;
      },
    });
  }
  return scope;
}

export type Scrub = (text: string) => string;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Builds one regex over every secret spelling once, at start (not per call). */
export function createScrubber(secrets: ReadonlyMap<string, Secret>): Scrub {
  const spellings = new Set<string>();
  for (const { value } of secrets.values()) {
    for (const v of [value, encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2), JSON.stringify(value).slice(1, -1)]) {
      if (v.length > 0) spellings.add(v);
    }
  }
  // Callback tokens are capabilities too (a template may put one in a URL that gets logged).
  const tokens = (text: string) => (text.includes('icb_') || /icb_/i.test(text) ? text.replace(TOKEN_PATTERN, REDACTED) : text);
  if (spellings.size === 0) return tokens;
  const pattern = new RegExp([...spellings].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
  return (text) => tokens(text.replace(pattern, REDACTED));
}
