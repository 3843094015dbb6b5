/**
 * The worker's attempt log line through createLogger (src/logger.ts: pino given the top-level
 * paths, our formatter the "*." ones, src/patches/pino-child-bindings.ts for child bindings)
 * against pino given every REDACT_PATHS path itself (what createLogger does when the patch is
 * not applied). Per line and per child() call, to a sink that discards (docs/patches.md):
 *   npx tsx scripts/patches/log-redaction.ts
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createLogger, REDACT_PATHS } from '../../src/logger.js';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
const ours = createLogger('info', (s) => s, sink() as pino.DestinationStream);
const base = { service: 'invoke-api-worker' };
const redact = { paths: REDACT_PATHS, censor: '[REDACTED]' };
const pinoAll = pino({ level: 'info', base, redact }, sink());
const line = {
  jobId: '123', runId: 'run-1', stepId: 'step-1', attempt: 1, method: 'POST',
  host: 'api.example.com', status: 200, durationMs: 12, outcome: 'completed', errorCode: undefined,
};

function usPer(n: number, fn: (i: number) => void): string {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return (Number(process.hrtime.bigint() - t) / n / 1000).toFixed(2);
}

for (let round = 0; round < 6; round++) {
  const a = usPer(50_000, () => ours.info(line, 'attempt'));
  const b = usPer(50_000, () => pinoAll.info(line, 'attempt'));
  const c = usPer(20_000, (i) => ours.child({ reqId: `r${i}` }));
  const d = usPer(20_000, (i) => pinoAll.child({ reqId: `r${i}` }));
  console.log(`round ${round}: line ${a} vs ${b} us; child() ${c} vs ${d} us (ours vs pino's own)`);
}
