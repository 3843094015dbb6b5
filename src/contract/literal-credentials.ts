/**
 * Literal credentials in step headers (issue 18). A credential pasted into a step
 * ("Authorization": "Bearer sk_live_...") would be stored in clear in the job data in Redis
 * and shown wherever job data is shown. Producers (client and HTTP API) refuse it: a
 * credential-bearing header must be a template over `secrets.*` (or a `request.auth`
 * credential). Jobs from raw producers that still carry one are masked wherever the service
 * shows job data (dashboard, inspect, API).
 *
 * Opt-out for internal test partners: the client option allowLiteralCredentials, or
 * INVOKE_ALLOW_LITERAL_CREDENTIALS=true for the HTTP API (docs/security.md).
 */
import { REDACTED } from '../lib/scrub.js';
import type { JobIssue } from './job-issue.js';

/** Header names (lower case) that carry credentials. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'apikey',
  'x-apikey',
  'x-auth-token',
  'x-access-token',
  'x-client-secret',
  'ocp-apim-subscription-key',
  'private-token',
  'x-amz-security-token',
]);

/** An output that reads a secret or credential: {{ secrets.NAME }}, {{ auth.x }}. */
const SECRET_OUTPUT = /\{\{-?\s*(secrets|auth)\.[A-Za-z_]/;

/** True when the value is a template that takes its credential from secrets or auth. */
export const isSecretTemplate = (value: string) => SECRET_OUTPUT.test(value);

function credentialHeaders(data: unknown): [string, string][] {
  const headers = (data as { request?: { headers?: unknown } } | null)?.request?.headers;
  if (headers === null || typeof headers !== 'object') return [];
  return Object.entries(headers as Record<string, unknown>).filter(
    (e): e is [string, string] =>
      CREDENTIAL_HEADERS.has(e[0].toLowerCase()) && typeof e[1] === 'string' && e[1].trim() !== '',
  );
}

/** One issue per credential header holding a literal value. */
export function literalCredentialIssues(data: unknown, where = ''): JobIssue[] {
  return credentialHeaders(data)
    .filter(([, v]) => !isSecretTemplate(v))
    .map(([name]) => ({
      path: `${where ? `${where}.` : ''}request.headers.${name}`,
      code: 'literal_credential',
      message: `holds a literal credential, which would be stored in clear with the job: store it as a secret (INVOKE_SECRET_<NAME>, or a tenant secret) and write {{ secrets.<NAME> }} here (INVOKE_ALLOW_LITERAL_CREDENTIALS / allowLiteralCredentials allow literals for internal test partners)`,
    }));
}

/** Job data as shown to people: literal credential header values replaced by [REDACTED]. */
export function maskJobData<T>(data: T): T {
  const literal = credentialHeaders(data).filter(([, v]) => !isSecretTemplate(v));
  if (literal.length === 0) return data;
  const d = data as { request: { headers: Record<string, string> } };
  const headers = { ...d.request.headers };
  for (const [name] of literal) headers[name] = REDACTED;
  return { ...d, request: { ...d.request, headers } } as T;
}
