/**
 * The timeout sweeper: one interval timer per worker process (never a timer per step), asking
 * Redis for the steps due by now (ZRANGEBYSCORE with LIMIT: O(log n + batch)) and settling them.
 * Several processes may sweep at once: each settlement is a compare-and-set (scripts.ts), so a
 * step is ended once whoever gets there first.
 */
import type { Logger } from '../logger.js';
import type { Callbacks } from './service.js';

const BATCH = 200;
/** A tick settles at most this many batches, so one tick never runs for long. */
const MAX_BATCHES = 25;

export function startSweeper(
  callbacks: Pick<Callbacks, 'sweep'>,
  intervalMs: number,
  logger: Pick<Logger, 'warn'>,
): { stop(): void } {
  let running = false;
  async function tick(): Promise<void> {
    if (running) return;
    running = true;
    try {
      for (let i = 0; i < MAX_BATCHES; i++) if ((await callbacks.sweep(BATCH)) < BATCH) break;
    } catch (err) {
      // Redis down or a bad record: the next tick tries again; nothing is lost meanwhile.
      logger.warn(
        { err: { name: (err as Error).name } },
        'callback sweep failed; retrying next tick',
      );
    } finally {
      running = false;
    }
  }
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
