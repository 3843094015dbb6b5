/**
 * Tenant credentials, the operator side (contract v1.1 section 6.2): set, list, delete and
 * refresh, write only, like tenant secrets. The HTTP routes (api/routes/credentials.ts) and the
 * CLI (`invoke-api credentials`) are thin surfaces over this. A credential is validated whole
 * (credentialSchema) before anything is written and goes into the vault (AES-256-GCM, kind
 * 'credential'); its type and hosts are the record's clear metadata (bound into the AAD), so a
 * listing shows them and never a secret. Replacing or deleting one drops its cached token.
 */
import { z } from 'zod';
import { credentialSchema, type Credential } from '../contract/credential.js';
import { InvokeError } from '../contract/errors.js';
import { SECRET_NAME, TENANT_ID } from '../contract/job.js';
import type { RedisClient } from '../redis.js';
import { VaultDecryptError, type Vault } from '../vault/index.js';
import { dropCachedToken } from './token-cache.js';

export const CREDENTIAL_KIND = 'credential';
/** The tenant argument that names the platform (INVOKE_CREDENTIAL_<NAME>) in `refresh`. */
export const PLATFORM = '-';

/** 400 naming the field: nothing written. */
export class CredentialInputError extends Error {
  override name = 'CredentialInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** INVOKE_SECRETS_KEY not set in this process: 503, nothing written. */
export class CredentialsDisabledError extends Error {
  override name = 'CredentialsDisabledError';
  constructor() {
    super('tenant credentials need INVOKE_SECRETS_KEY (base64 of 32 bytes) in this process');
  }
}

export interface CredentialListing {
  name: string;
  type: string;
  hosts: string[];
  updatedAt: string;
}

const tenantId = z.string().regex(TENANT_ID, 'must match ^[A-Za-z0-9._-]{1,64}$');
const credentialName = z.string().regex(SECRET_NAME, 'must match ^[A-Z][A-Z0-9_]{0,63}$');

function check<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new CredentialInputError(
    [field, ...issue.path.map(String)].filter(Boolean).join('.'),
    issue.message,
  );
}

export const tokenScope = (tenant: string, name: string) =>
  tenant === PLATFORM ? `platform:${name}` : `tenant:${tenant}:${name}`;

export function createTenantCredentials(vault: Vault, redis: RedisClient, prefix: string) {
  return {
    async set(tenant: string, name: string, body: unknown): Promise<void> {
      const t = check(tenantId, tenant, 'tenantId');
      const n = check(credentialName, name, 'name');
      const credential = check(credentialSchema, body, '');
      if (!vault.enabled) throw new CredentialsDisabledError();
      const hosts = [...new Set(credential.hosts)];
      await vault.put(t, CREDENTIAL_KIND, n, JSON.stringify({ ...credential, hosts }), {
        type: credential.type,
        hosts,
      });
      await dropCachedToken(redis, prefix, tokenScope(t, n));
    },
    async list(tenant: string): Promise<CredentialListing[]> {
      const t = check(tenantId, tenant, 'tenantId');
      return (await vault.list(t, CREDENTIAL_KIND)).map((e) => ({
        name: e.name,
        type: String(e.meta.type ?? ''),
        hosts: Array.isArray(e.meta.hosts) ? (e.meta.hosts as string[]) : [],
        updatedAt: e.updatedAt,
      }));
    },
    /** True when it existed. */
    async delete(tenant: string, name: string): Promise<boolean> {
      const t = check(tenantId, tenant, 'tenantId');
      const n = check(credentialName, name, 'name');
      const existed = await vault.delete(t, CREDENTIAL_KIND, n);
      await dropCachedToken(redis, prefix, tokenScope(t, n));
      return existed;
    },
    /** Drops the cached token of a tenant's credential, or a platform one with tenant '-'. */
    async refresh(tenant: string, name: string): Promise<boolean> {
      const t = tenant === PLATFORM ? PLATFORM : check(tenantId, tenant, 'tenantId');
      return dropCachedToken(redis, prefix, tokenScope(t, check(credentialName, name, 'name')));
    },
  };
}

export type TenantCredentialsAdmin = ReturnType<typeof createTenantCredentials>;

/**
 * The worker's read of a tenant credential (resolve.ts). A record no configured key opens, or
 * that no longer parses, is a permanent AUTH_ERROR naming it: retrying cannot fix it.
 */
export function vaultCredentials(vault: Vault) {
  return async (tenant: string, name: string): Promise<Credential | undefined> => {
    if (!vault.enabled) return undefined;
    let record: Awaited<ReturnType<Vault['get']>>;
    try {
      record = await vault.get(tenant, CREDENTIAL_KIND, name);
    } catch (err) {
      if (err instanceof VaultDecryptError)
        throw new InvokeError(
          'AUTH_ERROR',
          `credential ${name} of tenant ${tenant} cannot be decrypted with INVOKE_SECRETS_KEY or INVOKE_SECRETS_OLD_KEYS; save it again`,
          { retryable: false },
        );
      throw err;
    }
    if (!record) return undefined;
    const parsed = credentialSchema.safeParse(JSON.parse(record.value));
    if (!parsed.success)
      throw new InvokeError(
        'AUTH_ERROR',
        `credential ${name} of tenant ${tenant} is no longer valid; save it again`,
        { retryable: false },
      );
    return parsed.data;
  };
}
