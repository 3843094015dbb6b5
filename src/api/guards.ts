/**
 * Hardening shared by every HTTP route (issue 18):
 *
 * - job ids in paths must have the contract's jobId shape (ik.<runId>.<stepId>.<visit>,
 *   contract/idempotency.ts): anything else is 404 before Redis is asked, so a path such as
 *   /v1/invocations/meta can never read BullMQ's own keys (meta, events, id, x:logs);
 * - JSON bodies nested deeper than MAX_JSON_DEPTH are 400 before parsing (a 5,000-deep array
 *   overflowed the stack in validation);
 * - without INVOKE_API_TOKEN (loopback only) a request whose Host is not a loopback name is
 *   refused: a web page that rebinds its DNS name to 127.0.0.1 cannot drive the API.
 */
import type { FastifyInstance } from 'fastify';
import { parseIdempotencyKey } from '../contract/idempotency.js';
import { PUBLIC_PATHS, PUBLIC_PREFIX } from './public-paths.js';

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 64;

const JOB_ID = /^ik\.[A-Za-z0-9_%-]{1,1000}\.[A-Za-z0-9_%-]{1,1000}\.[1-9][0-9]{0,14}$/;

/** True when `id` is a jobId the contract's derivation can produce. */
export function isJobId(id: string): boolean {
  if (!JOB_ID.test(id)) return false;
  try {
    return parseIdempotencyKey(id) !== undefined;
  } catch {
    return false; // a malformed %XX escape
  }
}

export const notAJobId = (field: string, id: string) => ({
  error: 'NOT_FOUND',
  message: `${field}: ${JSON.stringify(id.slice(0, 80))} is not an invocation id (ik.<runId>.<stepId>.<visit>, as POST /v1/invocations answers)`,
});

/** True when the text nests arrays/objects deeper than `max` (strings skipped, no parse). */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The Host header's name without its port, lower-cased. */
function hostName(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d*$/, '').replace(/\.$/, '');
}

export function requireLoopbackHost(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    // Partner callbacks come from outside by design (through a proxy, under a public name);
    // their token is the capability, so a rebound DNS name gains nothing there.
    if (PUBLIC_PATHS.has(path) || path.startsWith(PUBLIC_PREFIX)) return;
    const name = hostName(req.headers.host);
    if (LOOPBACK_NAMES.has(name)) return;
    return reply.code(403).send({
      error: 'FORBIDDEN_HOST',
      message: `Host ${JSON.stringify(name.slice(0, 100))} is not a loopback name: without INVOKE_API_TOKEN the API answers only requests addressed to localhost, 127.0.0.1 or [::1] (set INVOKE_API_TOKEN to serve other names)`,
    });
  });
}
