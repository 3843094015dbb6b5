/**
 * Waits for `p` at most `ms`: true if it settled fulfilled in time, false if it rejected or
 * the time ran out (it is not cancelled). For shutdown and readiness steps that must not hang
 * on an unreachable Redis.
 */
export function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => resolve(true),
      () => resolve(false),
    ).finally(() => clearTimeout(timer));
  });
}
