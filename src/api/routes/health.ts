/** Liveness (process up) and readiness (Redis reachable, worker running) for orchestrators. */
import type { FastifyInstance } from 'fastify';

export interface Readiness {
  /** Each check answers quickly; a failing one names itself in the 503 body. */
  checks: Record<string, () => Promise<boolean>>;
}

export function healthRoutes(readiness: Readiness) {
  return async (app: FastifyInstance) => {
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_req, reply) => {
      const results: Record<string, boolean> = {};
      await Promise.all(
        Object.entries(readiness.checks).map(async ([name, check]) => {
          results[name] = await check().catch(() => false);
        }),
      );
      const ready = Object.values(results).every(Boolean);
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not ready', checks: results });
    });
  };
}
