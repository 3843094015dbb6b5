/**
 * The shared harness (test/helpers/harness.ts) with destination limits: the worker gets the
 * destination hooks from INVOKE_DESTINATIONS, plus helpers to read jobs and the host list.
 */
import type { Job } from 'bullmq';
import { createDestinations } from '../../src/destinations/index.js';
import { listDestinations, type HostStatus } from '../../src/destinations/admin.js';
import { startHarness, type Harness } from '../helpers/harness.js';

export interface DestHarness extends Harness {
  host(host: string): Promise<HostStatus | undefined>;
  states(ids: string[]): Promise<string[]>;
}

export async function startDestHarness(
  destinations: object,
  env: Record<string, string> = {},
): Promise<DestHarness> {
  const h = await startHarness(
    { INVOKE_DESTINATIONS: JSON.stringify(destinations), ...env },
    (cfg, logger) => createDestinations(cfg, logger),
  );
  return {
    ...h,
    host: async (host) =>
      (await listDestinations(h.redis, h.cfg.BULLMQ_PREFIX)).find((d) => d.host === host),
    states: (ids) =>
      Promise.all(
        ids.map(
          async (id) => ((await h.queue.getJob(id)) as Job | undefined)?.getState() ?? 'missing',
        ),
      ),
  };
}
