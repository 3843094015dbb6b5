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
export function secretsScope(
  secrets: ReadonlyMap<string, Secret>,
  refs: SecretRefs,
): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const [name, secret] of secrets) {
    Object.defineProperty(scope, name, {
      enumerable: true,
      get: () => refs.ref(name, secret.value),
    });
  }
  return scope;
}

/** A scrubber that knows every configured secret; add() more (tenant secrets) as they load. */
export function createScrubber(secrets: ReadonlyMap<string, Secret>): Scrubber {
  // Callback tokens are capabilities too (a template may put one in a URL that gets logged).
  const tokens = (text: string) =>
    /icb_/i.test(text) ? text.replace(TOKEN_PATTERN, REDACTED) : text;
  return scrubberOf(
    [...secrets.values()].map((s) => s.value),
    [tokens],
  );
}

/**
 * What to do about `{{ secrets.NAME }}` naming nothing in the job's view. A job without tenant
 * reads the environment; a tenant job reads its tenant's secrets (contract v1.1 section 6.1),
 * so the fix is the tenant secret route or command, or the platform secret's _TENANTS list.
 */
export function unknownSecretHint(name: string, tenantId: string | undefined): string {
  if (tenantId === undefined) return `set INVOKE_SECRET_${name}`;
  return `save it for tenant ${tenantId}: invoke-api secrets set ${tenantId} ${name} --hosts HOST, or PUT /v1/tenants/${tenantId}/secrets/${name}; a platform INVOKE_SECRET_${name} serves a tenant only when INVOKE_SECRET_${name}_TENANTS lists it`;
}
