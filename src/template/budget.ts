/**
 * Time budgets for rendering. liquidjs renders synchronously on the event loop, so:
 *
 * - each job's whole render (every field) shares one deadline (INVOKE_TEMPLATE_BUDGET_MS),
 *   which liquidjs checks before every template node and loop iteration;
 * - renders across jobs are spread over event-loop turns (TurnGate): once renders have used
 *   TURN_MS in one turn, the next job's render waits for the next turn, so I/O (health checks,
 *   lock renewals, other jobs' responses) runs in between. Without it, 100 jobs resumed by one
 *   Redis reply would render back to back: 100 budgets in one stall.
 */
import { performance } from 'node:perf_hooks';

/** Render time one event-loop turn may take before later renders wait for the next turn. */
export const TURN_MS = 20;

export class RenderBudget {
  readonly deadline: number;
  /** Characters the JSON body's string leaves may still produce in total. */
  bodyCharsLeft: number;
  constructor(
    readonly budgetMs: number,
    bodyChars: number,
  ) {
    this.deadline = performance.now() + budgetMs;
    this.bodyCharsLeft = bodyChars;
  }
  timeLeft(): number {
    return this.deadline - performance.now();
  }
}

export interface TurnGate {
  /** undefined when a render may start now (the common case: no promise, no await). */
  ready(): Promise<void> | undefined;
  /** Records render time spent in this turn. */
  charge(ms: number): void;
  /**
   * Called as a render starts; the function it returns estimates the process CPU (ms) that
   * render has used so far: CPU since the turn's first render, less the render time charged
   * before this one. One process.cpuUsage() (a system call) per turn rather than per render;
   * the estimate only decides whether a render cut off by wall time was starved of CPU.
   */
  startRender(): () => number;
}

export function createTurnGate(turnMs = TURN_MS): TurnGate {
  let spent = 0;
  let turnCpu: NodeJS.CpuUsage | undefined;
  let resetPending = false;
  const waiters: (() => void)[] = [];
  // One waiter is woken at a time and wakes the next when it has rendered and the turn still
  // has room: woken together, all would pass the check before any of them had rendered.
  const wakeNext = () => waiters.shift()?.();
  function reset() {
    resetPending = false;
    spent = 0;
    turnCpu = undefined;
    wakeNext();
    if (waiters.length > 0) schedule();
  }
  function schedule() {
    if (resetPending) return;
    resetPending = true;
    setImmediate(reset);
  }
  return {
    // A new render queues behind waiting ones (first come, first rendered).
    ready: () =>
      spent < turnMs && waiters.length === 0
        ? undefined
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
            schedule();
          }),
    startRender() {
      const base = (turnCpu ??= process.cpuUsage());
      const before = spent;
      return () => {
        const d = process.cpuUsage(base);
        return (d.user + d.system) / 1000 - before;
      };
    },
    charge(ms) {
      spent += ms;
      schedule();
      if (spent < turnMs) wakeNext();
    },
  };
}
