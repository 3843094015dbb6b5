/**
 * Token request metrics for /metrics (prom-client):
 *
 *   invoke_auth_token_requests_total{credential, outcome}   outcome: issued | refused | failed
 *
 * `credential` is the token cache scope (`platform:NAME`, `tenant:<tenantId>:NAME`), capped at
 * MAX_CREDENTIALS distinct values (then 'other') so label cardinality stays bounded.
 */
import { Counter, type Registry } from 'prom-client';
import type { TokenEvent } from './token-cache.js';

const MAX_CREDENTIALS = 500;

export function registerAuthMetrics(registry: Registry): (e: TokenEvent) => void {
  const requests = new Counter({
    name: 'invoke_auth_token_requests_total',
    help: 'OAuth2 token requests by credential and outcome (issued, refused: permanent AUTH_ERROR, failed: transient).',
    labelNames: ['credential', 'outcome'],
    registers: [registry],
  });
  const seen = new Set<string>();
  return (e) => {
    try {
      if (!seen.has(e.scope) && seen.size < MAX_CREDENTIALS) seen.add(e.scope);
      requests.inc({ credential: seen.has(e.scope) ? e.scope : 'other', outcome: e.outcome });
    } catch {
      // metrics must never fail a job
    }
  };
}
