/**
 * Bearer-token auth for every route except health, partner callbacks (and /metrics when
 * INVOKE_METRICS_PUBLIC).
 * Constant-time comparison of SHA-256 digests, so neither content nor length leaks by timing.
 * With no token configured (loopback-only bind, enforced in server.ts) requests pass.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { requireLoopbackHost } from './guards.js';
import { PUBLIC_PATHS, PUBLIC_PREFIX } from './public-paths.js';

export { PUBLIC_PATHS, PUBLIC_PREFIX };

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

/** The token from `Authorization: Bearer <t>` or the password of Basic auth (browsers, dashboard). */
export function presentedToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const [scheme, value] = h.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

export function registerAuth(app: FastifyInstance, cfg: Config): void {
  const token = cfg.INVOKE_API_TOKEN;
  if (!token) {
    requireLoopbackHost(app);
    return;
  }
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path) || (cfg.INVOKE_METRICS_PUBLIC && path === '/metrics')) return;
    // Partners' callbacks carry their own capability (routes/callbacks.ts), never our token.
    if (path.startsWith(PUBLIC_PREFIX)) return;
    if (tokenMatches(token, presentedToken(req))) return;
    // Basic challenge so a browser opening /ui shows a login prompt (user name is ignored).
    if (path.startsWith('/ui'))
      reply.header('www-authenticate', 'Basic realm="invoke-api", charset="UTF-8"');
    return reply
      .code(401)
      .send({ error: 'unauthorized', message: 'send Authorization: Bearer <INVOKE_API_TOKEN>' });
  });
}
