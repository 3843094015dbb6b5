/**
 * Tenant credentials over HTTP (contract v1.1 section 6.2), Bearer INVOKE_API_TOKEN like every
 * route; a thin surface over auth/tenant-credentials.ts (the CLI is the other one). Write only:
 *
 *   PUT    /v1/tenants/:tenantId/credentials/:name  <credential JSON>  204
 *   GET    /v1/tenants/:tenantId/credentials                      200 [{ name, type, hosts, updatedAt }]
 *   DELETE /v1/tenants/:tenantId/credentials/:name                204 (404 when absent)
 *
 * No route returns a secret. A bad tenant id, name or credential is 400 naming the field, with
 * nothing written; 503 when this process has no INVOKE_SECRETS_KEY. Error messages never quote
 * the body (zod's messages name fields and expectations, not values).
 */
import type { FastifyInstance } from 'fastify';
import {
  CredentialInputError,
  CredentialsDisabledError,
  type TenantCredentialsAdmin,
} from '../../auth/tenant-credentials.js';

type Params = { tenantId: string; name: string };

export function credentialRoutes(credentials: TenantCredentialsAdmin) {
  return async (app: FastifyInstance) => {
    app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof CredentialInputError)
        return reply
          .code(400)
          .send({ error: 'bad request', field: err.field, message: err.message });
      if (err instanceof CredentialsDisabledError)
        return reply.code(503).send({ error: 'unavailable', message: err.message });
      const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
      return reply.code(status).send({
        error: status === 500 ? 'error' : 'bad request',
        message: status === 500 ? 'tenant credentials: internal error' : err.message,
      });
    });
    app.put<{ Params: Params }>('/v1/tenants/:tenantId/credentials/:name', async (req, reply) => {
      await credentials.set(req.params.tenantId, req.params.name, req.body);
      return reply.code(204).send();
    });
    app.get<{ Params: Pick<Params, 'tenantId'> }>(
      '/v1/tenants/:tenantId/credentials',
      async (req) => credentials.list(req.params.tenantId),
    );
    app.delete<{ Params: Params }>(
      '/v1/tenants/:tenantId/credentials/:name',
      async (req, reply) => {
        if (await credentials.delete(req.params.tenantId, req.params.name))
          return reply.code(204).send();
        return reply.code(404).send({
          error: 'not found',
          message: `name: tenant ${req.params.tenantId} has no credential ${req.params.name}`,
        });
      },
    );
  };
}
