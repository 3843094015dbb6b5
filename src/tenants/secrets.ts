/**
 * Tenant secrets, the operator side (contract v1.1 section 6.1): set, list and delete, write
 * only. The HTTP routes (api/routes/tenants.ts) and the CLI (`invoke-api secrets`) are thin
 * surfaces over this. Values go straight into the vault (AES-256-GCM); nothing here returns,
 * logs or echoes one. Input is validated whole before anything is written, so a bad request
 * writes nothing; errors name the field and the fix.
 */
import { z } from 'zod';
import { SECRET_NAME, TENANT_ID } from '../contract/job.js';
import type { Vault } from '../vault/index.js';

/** Tenant secret values: non-empty, at most this many UTF-8 bytes (an API key or a PEM fits). */
export const MAX_SECRET_BYTES = 8192;
const MAX_HOSTS = 32;
/** A host name or a glob of the INVOKE_SECRET_NAME_HOSTS kind: `*.partner.com`, or exact. */
const HOST_GLOB =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const SECRET_KIND = 'secret';

/** 400 naming the field: the caller's mistake, nothing written. */
export class TenantInputError extends Error {
  override name = 'TenantInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** INVOKE_SECRETS_KEY not set in the process serving the request: 503, nothing written. */
export class SecretsDisabledError extends Error {
  override name = 'SecretsDisabledError';
  constructor() {
    super('tenant secrets need INVOKE_SECRETS_KEY (base64 of 32 bytes) in this process');
  }
}

export const tenantIdParam = z.string().regex(TENANT_ID, 'must match ^[A-Za-z0-9._-]{1,64}$');
export const secretNameParam = z.string().regex(SECRET_NAME, 'must match ^[A-Z][A-Z0-9_]{0,63}$');
export const secretBodySchema = z.strictObject({
  value: z
    .string({ error: 'required: the secret value (a non-empty string)' })
    .min(1, 'must not be empty')
    .refine(
      (v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_BYTES,
      `must be at most ${MAX_SECRET_BYTES} bytes`,
    ),
  hosts: z
    .array(
      z
        .string()
        .transform((h) => h.trim().toLowerCase())
        .refine(
          (h) => HOST_GLOB.test(h),
          'must be a host name or *.domain glob (no scheme, port or path)',
        ),
      { error: 'required: the hosts this secret may be sent to, e.g. ["api.partner.com"]' },
    )
    .min(1, 'must list at least one host: a tenant secret is always bound to its destinations')
    .max(MAX_HOSTS, `at most ${MAX_HOSTS} hosts`),
});
export type SecretBody = z.input<typeof secretBodySchema>;

export interface SecretListing {
  name: string;
  hosts: string[];
  updatedAt: string;
}

function check<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = [field, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new TenantInputError(path, issue.message);
}

export function createTenantSecrets(vault: Vault) {
  return {
    async set(tenantId: string, name: string, body: unknown): Promise<void> {
      const tenant = check(tenantIdParam, tenantId, 'tenantId');
      const secret = check(secretNameParam, name, 'name');
      const { value, hosts } = check(secretBodySchema, body, '');
      if (!vault.enabled) throw new SecretsDisabledError();
      await vault.put(tenant, SECRET_KIND, secret, value, { hosts: [...new Set(hosts)] });
    },
    async list(tenantId: string): Promise<SecretListing[]> {
      const tenant = check(tenantIdParam, tenantId, 'tenantId');
      const entries = await vault.list(tenant, SECRET_KIND);
      return entries.map((e) => ({
        name: e.name,
        hosts: Array.isArray(e.meta.hosts) ? (e.meta.hosts as string[]) : [],
        updatedAt: e.updatedAt,
      }));
    },
    /** True when it existed. */
    async delete(tenantId: string, name: string): Promise<boolean> {
      const tenant = check(tenantIdParam, tenantId, 'tenantId');
      const secret = check(secretNameParam, name, 'name');
      return vault.delete(tenant, SECRET_KIND, secret);
    },
  };
}

export type TenantSecrets = ReturnType<typeof createTenantSecrets>;
