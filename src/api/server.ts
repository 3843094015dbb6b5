/**
 * The HTTP server: producers' API (/v1/invocations...), operators' surfaces (/ui dashboard,
 * /v1/ops..., /metrics) and health. fastify with the zod type provider, so request bodies are
 * validated by the same zod schemas as everything else. Bearer token on everything but health;
 * with no token configured the server refuses to bind anywhere but loopback.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { registerAuth } from './auth.js';
import { explainJsonBodies } from './body-errors.js';
import { MAX_TOKEN_CHARS } from '../callbacks/token.js';
import { healthRoutes, type Readiness } from './routes/health.js';

export interface ServerDeps {
  cfg: Config;
  logger: Logger;
  readiness: Readiness;
  /** Route plugins added by each surface (invocations, ops, dashboard, metrics). */
  plugins?: ((app: FastifyInstance) => Promise<void> | void)[];
}

export const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export class UnsafeBindError extends Error {
  override name = 'UnsafeBindError';
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { cfg } = deps;
  if (!cfg.INVOKE_API_TOKEN && !LOOPBACK.has(cfg.INVOKE_API_HOST)) {
    throw new UnsafeBindError(
      `INVOKE_API_TOKEN: required when INVOKE_API_HOST is ${cfg.INVOKE_API_HOST} (not loopback)`,
    );
  }
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: cfg.INVOKE_API_BODY_LIMIT_BYTES,
    // Callback tokens carry their (encrypted) jobId: up to a few KB for long run and step ids.
    routerOptions: { maxParamLength: MAX_TOKEN_CHARS },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  explainJsonBodies(app as unknown as FastifyInstance);
  await app.register(healthRoutes(deps.readiness));
  registerAuth(app as unknown as FastifyInstance, cfg);
  for (const plugin of deps.plugins ?? []) await app.register(plugin);
  return app as unknown as FastifyInstance;
}
