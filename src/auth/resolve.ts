/**
 * Which credential `request.auth.credential` names for a job (contract v1.1 section 6.2): the
 * tenant's own credential of that name first, else a platform credential (INVOKE_CREDENTIAL_
 * <NAME>) when the job has no tenant or INVOKE_CREDENTIAL_<NAME>_TENANTS lets its tenant use it.
 * A name that resolves to nothing is a permanent AUTH_ERROR: retrying cannot make it appear.
 */
import type { PlatformCredential } from '../config.js';
import type { Credential } from '../contract/credential.js';
import { InvokeError } from '../contract/errors.js';

export interface ResolvedCredential {
  name: string;
  source: 'platform' | 'tenant';
  credential: Credential;
  /** Unique per credential (token cache key): `platform:NAME` or `tenant:<tenantId>:NAME`. */
  scope: string;
}

/** Reads a tenant's credential (the vault); undefined when the tenant has none of that name. */
export type TenantCredentials = (tenantId: string, name: string) => Promise<Credential | undefined>;

export type ResolveCredential = (
  tenantId: string | undefined,
  name: string,
) => Promise<ResolvedCredential>;

export function createResolver(
  platform: ReadonlyMap<string, PlatformCredential>,
  tenant?: TenantCredentials,
): ResolveCredential {
  return async (tenantId, name) => {
    if (tenantId !== undefined && tenant) {
      const own = await tenant(tenantId, name);
      if (own)
        return { name, source: 'tenant', credential: own, scope: `tenant:${tenantId}:${name}` };
    }
    const p = platform.get(name);
    if (p && (tenantId === undefined || p.tenants?.some((t) => t === '*' || t === tenantId))) {
      return { name, source: 'platform', credential: p.credential, scope: `platform:${name}` };
    }
    const whose =
      tenantId === undefined ? 'no platform credential' : `no credential for tenant ${tenantId}`;
    throw new InvokeError(
      'AUTH_ERROR',
      `request.auth.credential: ${whose} named ${name} (define INVOKE_CREDENTIAL_${name}${tenantId === undefined ? '' : ', list the tenant in its _TENANTS,'} or save a tenant credential)`,
      { retryable: false },
    );
  };
}
