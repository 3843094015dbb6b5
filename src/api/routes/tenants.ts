/**
 * Tenant secrets over HTTP (contract v1.1 section 6.1), Bearer INVOKE_API_TOKEN like every
 * route; a thin surface over tenants/secrets.ts (the CLI is the other one). Write only:
 *
 *   PUT    /v1/tenants/:tenantId/secrets/:name  { value, hosts }  204
 *   GET    /v1/tenants/:tenantId/secrets                          200 [{ name, hosts, updatedAt }]
 *   DELETE /v1/tenants/:tenantId/secrets/:name                    204 (404 when absent)
 *
 * No route returns a value. A bad tenant id, name, value or hosts is 400 naming the field,
 * with nothing written; 503 when this process has no INVOKE_SECRETS_KEY. Request bodies are
 * never logged (the server logs no bodies), and error messages never quote the value.
 */
import type { FastifyInstance } from 'fastify';
import {
  SecretsDisabledError,
  TenantInputError,
  type TenantSecrets,
} from '../../tenants/secrets.js';

export function tenantRoutes(secrets: TenantSecrets) {
  return async (app: FastifyInstance) => {
    app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof TenantInputError)
        return reply
          .code(400)
          .send({ error: 'bad request', field: err.field, message: err.message });
      if (err instanceof SecretsDisabledError)
        return reply.code(503).send({ error: 'unavailable', message: err.message });
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
      // fastify's own 4xx (415, 413, bad JSON) say nothing of the body's content; anything else is ours.
      return reply.code(status).send({
        error: status === 500 ? 'error' : 'bad request',
        message: status === 500 ? 'tenant secrets: internal error' : err.message,
      });
    });
    app.put<{ Params: { tenantId: string; name: string } }>(
      '/v1/tenants/:tenantId/secrets/:name',
      async (req, reply) => {
        await secrets.set(req.params.tenantId, req.params.name, req.body);
        return reply.code(204).send();
      },
    );
    app.get<{ Params: { tenantId: string } }>('/v1/tenants/:tenantId/secrets', async (req) =>
      secrets.list(req.params.tenantId),
    );
    app.delete<{ Params: { tenantId: string; name: string } }>(
      '/v1/tenants/:tenantId/secrets/:name',
      async (req, reply) => {
        const existed = await secrets.delete(req.params.tenantId, req.params.name);
        return existed
          ? reply.code(204).send()
          : reply.code(404).send({
              error: 'not found',
              message: `name: tenant ${req.params.tenantId} has no secret ${req.params.name}`,
            });
      },
    );
  };
}
