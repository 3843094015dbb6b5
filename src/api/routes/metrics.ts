/** GET /metrics: Prometheus text from our registry (token-protected unless INVOKE_METRICS_PUBLIC). */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export function metricsRoutes(registry: Registry) {
  return async (app: FastifyInstance) => {
    app.get('/metrics', async (_req, reply) => {
      const text = await registry.metrics();
      return reply.header('content-type', registry.contentType).send(text);
    });
  };
}
