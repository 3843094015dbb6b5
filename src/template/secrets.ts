/**
 * Secrets in templates: secrets.NAME refers to INVOKE_SECRET_NAME. The template sees only a
 * reference (secret-refs.ts); the value is put in by the HTTP client. The scrubber
 * (lib/scrub.ts) removes every secret value, in its common spellings, and every callback token
 * from text that leaves the worker.
 */
import type { Secret } from '../config.js';
import { TOKEN_PATTERN } from '../callbacks/token.js';
import { createScrubber as scrubberOf, REDACTED, type Scrubber } from '../lib/scrub.js';
import type { SecretRefs } from './secret-refs.js';

export { REDACTED };
export type Scrub = (text: string) => string;
export type { Scrubber };

/** A fresh secrets object per render: own-property getters (liquidjs ownPropertyOnly) giving references. */
export function secretsScope(secrets: ReadonlyMap<string, Secret>, refs: SecretRefs): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const [name, secret] of secrets) {
    Object.defineProperty(scope, name, { enumerable: true, get: () => refs.ref(name, secret.value) });
  }
  return scope;
}

/** A scrubber that knows every configured secret; add() more (tenant secrets) as they load. */
export function createScrubber(secrets: ReadonlyMap<string, Secret>): Scrubber {
  // Callback tokens are capabilities too (a template may put one in a URL that gets logged).
  const tokens = (text: string) => (/icb_/i.test(text) ? text.replace(TOKEN_PATTERN, REDACTED) : text);
  return scrubberOf([...secrets.values()].map((s) => s.value), [tokens]);
}
