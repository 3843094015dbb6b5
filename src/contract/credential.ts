/**
 * Partner credentials (contract v1.1 section 6.2): what `request.auth.credential` names. The
 * same schema reads a platform credential from INVOKE_CREDENTIAL_<NAME> (JSON) and a tenant
 * credential from `PUT /v1/tenants/{tenantId}/credentials/{NAME}`. Every kind is bound to its
 * `hosts`: the worker refuses to send it anywhere else.
 */
import { Liquid } from 'liquidjs';
import { z } from 'zod';
import { conditionSchema } from './job.js';

/** A host name or `*.domain` glob, lower-cased (the same shape as INVOKE_SECRET_<NAME>_HOSTS). */
const hostGlob = z
  .string()
  .transform((h) => h.trim().toLowerCase().replace(/\.$/, ''))
  .pipe(
    z
      .string()
      .regex(
        /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$|^\[[0-9a-f:.]+\]$/,
        'must be a host name or *.domain glob (no scheme, port or path)',
      ),
  );
const hosts = z
  .array(hostGlob)
  .min(1, 'hosts must list at least one host: a credential is always bound to its destinations')
  .max(64);
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be an HTTP header name (RFC 9110 token)');
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !/[\r\n\0]/.test(s), 'must not contain CR, LF or NUL');

/** Loopback hosts, the only ones a client secret may travel to over plain http (tests, sidecars). */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * RFC 6749 section 2.3.1 / 3.2: the client authenticates to the token endpoint, so the client
 * secret crosses the wire: TLS is required (http only for a loopback host).
 */
const tokenUrl = z.url({ protocol: /^https?$/ }).refine((u) => {
  const url = new URL(u);
  return url.protocol === 'https:' || LOOPBACK.test(url.hostname);
}, 'tokenUrl must be https (http only for a loopback host)');

export const oauth2CredentialSchema = z.strictObject({
  type: z.literal('oauth2_client_credentials'),
  hosts,
  tokenUrl,
  clientId: text(512),
  clientSecret: text(4096),
  scope: text(2048).optional(),
  audience: text(2048).optional(),
  clientAuth: z.enum(['basic', 'body']).default('basic'),
  /**
   * A Liquid condition over response.status, response.headers and response.body (like
   * expect.success) for partners that say "token expired" in an answer other than a 401:
   * when it holds, the token is dropped and the call sent again, as after a 401.
   */
  tokenExpired: conditionSchema.optional(),
});

export const basicCredentialSchema = z.strictObject({
  type: z.literal('basic'),
  hosts,
  // RFC 7617 section 2: a user-id containing a colon cannot be sent.
  username: text(512).refine((s) => !s.includes(':'), 'username must not contain ":" (RFC 7617)'),
  password: text(4096),
});

export const DEFAULT_HMAC_PAYLOAD = '{{ timestamp }}.{{ body }}';

/** What an HMAC payload template may read (contract v1.1 section 6.2). */
export const HMAC_PAYLOAD_VARS = ['method', 'path', 'body', 'timestamp'] as const;
export const payloadLiquid = new Liquid({
  strictVariables: true,
  strictFilters: true,
  ownPropertyOnly: true,
  jsTruthy: true,
});

/** Parses and renders once with sample values, so a typo or unknown variable fails at save time, not per job. */
function payloadProblem(template: string): string | undefined {
  try {
    payloadLiquid.parseAndRenderSync(template, {
      method: 'POST',
      path: '/',
      body: '{}',
      timestamp: 0,
    });
    return undefined;
  } catch (err) {
    return `payload is not a valid template over ${HMAC_PAYLOAD_VARS.join(', ')}: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`;
  }
}

export const hmacCredentialSchema = z.strictObject({
  type: z.literal('hmac'),
  hosts,
  secret: text(4096),
  algorithm: z.enum(['sha256', 'sha512']).default('sha256'),
  header: headerName,
  /** Liquid over method, path, body (the exact bytes sent, as text) and timestamp (Unix seconds). */
  payload: z
    .string()
    .min(1)
    .max(2048)
    .superRefine((t, ctx) => {
      const problem = payloadProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(DEFAULT_HMAC_PAYLOAD),
  encoding: z.enum(['hex', 'base64']).default('hex'),
  timestampHeader: headerName.optional(),
});

export const credentialSchema = z.discriminatedUnion('type', [
  oauth2CredentialSchema,
  basicCredentialSchema,
  hmacCredentialSchema,
]);

export type Credential = z.output<typeof credentialSchema>;
export type CredentialInput = z.input<typeof credentialSchema>;
export type OAuth2Credential = z.output<typeof oauth2CredentialSchema>;
export type BasicCredential = z.output<typeof basicCredentialSchema>;
export type HmacCredential = z.output<typeof hmacCredentialSchema>;
export type CredentialType = Credential['type'];

/** What the dry run shows of the credential a call used (docs/auth.md): never a secret or a token. */
export const authUseSchema = z.object({
  credential: z.string(),
  source: z.enum(['platform', 'tenant']),
  type: z.enum(['oauth2_client_credentials', 'basic', 'hmac']),
  /** OAuth2 only: a token was requested now, came from the shared cache, or could not be had. */
  token: z.enum(['obtained', 'cached', 'failed']).optional(),
  /** OAuth2 only: the partner answered 401 and the call was sent again with a new token. */
  retriedAfter401: z.boolean().optional(),
  /** OAuth2 only: the credential's tokenExpired held and the call was sent again with a new token. */
  retriedAfterExpired: z.boolean().optional(),
});
export type AuthUse = z.output<typeof authUseSchema>;

/** The values of a credential that are secret (for scrubbers): never logged, shown or stored in clear. */
export function credentialSecrets(c: Credential): string[] {
  switch (c.type) {
    case 'oauth2_client_credentials':
      return [c.clientSecret];
    case 'basic':
      return [c.password, Buffer.from(`${c.username}:${c.password}`).toString('base64')];
    case 'hmac':
      return [c.secret];
  }
}
