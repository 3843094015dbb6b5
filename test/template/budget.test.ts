/** The turn gate: renders started together are spread over event-loop turns. */
import { describe, expect, it } from 'vitest';
import { createTurnGate } from '../../src/template/budget.js';

const burn = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('createTurnGate', () => {
  it('lets a timer run between renders that were all started in one turn', async () => {
    const gate = createTurnGate(20);
    const order: string[] = [];
    setTimeout(() => order.push('timer'), 0);
    // Ten 15 ms renders resumed in the same microtask burst (as by one Redis reply).
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const wait = gate.ready();
        if (wait) await wait;
        burn(15);
        gate.charge(15);
        order.push(`r${i}`);
      }),
    );
    const timerAt = order.indexOf('timer');
    // Without the gate all ten run before the timer (150 ms of one turn); with it, the timer
    // runs within the first few turns of two renders each.
    expect(timerAt).toBeGreaterThan(0);
    expect(timerAt).toBeLessThanOrEqual(6);
    expect(order.filter((o) => o.startsWith('r'))).toHaveLength(10);
  });

  it('costs no promise while the turn has room', () => {
    const gate = createTurnGate(20);
    expect(gate.ready()).toBeUndefined();
    gate.charge(5);
    expect(gate.ready()).toBeUndefined();
    gate.charge(20);
    expect(gate.ready()).toBeInstanceOf(Promise);
  });

  it("estimates a render's CPU from one snapshot per turn, less the renders charged before it", async () => {
    const gate = createTurnGate(1000);
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const burnCpu = (ms: number) => {
      const until = cpuMs() + ms;
      while (cpuMs() < until);
    };
    const first = gate.startRender();
    const t0 = performance.now();
    burnCpu(30);
    gate.charge(performance.now() - t0);
    const second = gate.startRender();
    burnCpu(5);
    expect(first()).toBeGreaterThanOrEqual(30);
    // Without the subtraction the second render would carry the first's 30 ms.
    expect(second()).toBeLessThan(25);
    await new Promise((r) => setImmediate(r));
    // A new turn takes a new snapshot: nothing carried over.
    expect(gate.startRender()()).toBeLessThan(10);
  });
});
