/**
 * Where operations events come from: finished attempts (job.exhausted, job.held) through the
 * processor's observer hook, and the destinations' breaker transitions and Retry-After pauses.
 * A pause ends by time alone, with nothing to observe: the process that saw it start emits
 * host.resumed when its time is up (host.paused carries `until`, the authority if that process
 * is gone by then).
 */
import type { AttemptInfo, AttemptObserver } from '../queue/attempt-hooks.js';
import type { DestinationEvent } from '../destinations/index.js';
import type { OpsEmitter } from './emitter.js';
import type { JobFacts } from './events.js';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function factsOf(info: AttemptInfo): JobFacts {
  const d = (info.job.data ?? {}) as Record<string, unknown>;
  return {
    jobId: info.job.id ?? '',
    runId: str(d.runId),
    journeyId: str(d.journeyId),
    stepId: str(d.stepId),
    tenantId: str(d.tenantId),
    host: info.host,
    code: info.errorCode ?? null,
    status: info.status,
    attempts: info.attempt ?? info.job.attemptsMade + 1,
    detail: info.errorMessage ?? null,
  };
}

/** job.held for every held failure; job.exhausted for a failure on the job's last attempt. */
export function jobEventsObserver(emitter: Pick<OpsEmitter, 'emit'>): AttemptObserver {
  return (info) => {
    try {
      if (info.outcome === 'held') void emitter.emit({ type: 'job.held', ...factsOf(info) });
      else if (
        info.outcome === 'failed' &&
        (info.attempt ?? info.job.attemptsMade + 1) >= (info.job.opts.attempts ?? 1)
      ) {
        void emitter.emit({ type: 'job.exhausted', ...factsOf(info) });
      }
    } catch {
      // an event must never fail a job
    }
  };
}

/** The destinations' onEvent: breaker transitions as they are, pauses with their end. */
export function destinationEventSource(emitter: Pick<OpsEmitter, 'emit'>, now = Date.now) {
  const resumes = new Map<string, { until: number; timer: NodeJS.Timeout }>();
  return {
    onEvent(e: DestinationEvent): void {
      if (e.type === 'breaker.opened')
        return void emitter.emit({ type: e.type, host: e.host, openMs: e.openMs ?? null });
      if (e.type === 'breaker.closed') return void emitter.emit({ type: e.type, host: e.host });
      const until = now() + e.pauseMs;
      void emitter.emit({
        type: 'host.paused',
        host: e.host,
        pauseMs: Math.round(e.pauseMs),
        until: new Date(until).toISOString(),
      });
      const known = resumes.get(e.host);
      if (known && known.until >= until) return;
      if (known) clearTimeout(known.timer);
      const timer = setTimeout(() => {
        resumes.delete(e.host);
        void emitter.emit({ type: 'host.resumed', host: e.host });
      }, e.pauseMs);
      timer.unref();
      resumes.set(e.host, { until, timer });
    },
    close(): void {
      for (const { timer } of resumes.values()) clearTimeout(timer);
      resumes.clear();
    },
  };
}
