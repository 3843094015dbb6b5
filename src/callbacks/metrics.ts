/**
 * invoke_callback_replica_wait_total{result}: WAIT rounds of the callback route
 * (INVOKE_CALLBACK_MIN_REPLICAS). ok: confirmed; short: fewer replicas in time (callers got
 * 503); error: the connection failed or closed meanwhile (503 too). One round may answer many
 * callbacks (replica-barrier.ts coalesces them).
 */
import { Counter, type Registry } from 'prom-client';
import type { WaitResult } from './replica-barrier.js';

export function registerCallbackMetrics(registry: Registry): (result: WaitResult) => void {
  const rounds = new Counter({
    name: 'invoke_callback_replica_wait_total',
    help: 'Replica waits (WAIT) of the callback route by result: ok, short (fewer replicas in time: 503), error (connection failed: 503).',
    labelNames: ['result'],
    registers: [registry],
  });
  return (result) => rounds.inc({ result });
}
