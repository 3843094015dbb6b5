/**
 * A job waiting in the fair index is, for BullMQ, a delayed job that is never due (scripts.ts).
 * Producers and operators should see it as what it is: waiting.
 */
import type { Job } from 'bullmq';
import { FAIR_DELAY_MS } from './scripts.js';

export const inFairIndex = (state: string, job: Pick<Job, 'delay'>) =>
  state === 'delayed' && job.delay >= FAIR_DELAY_MS;

/** BullMQ's state, with 'waiting' for a job still in the fair index. */
export const visibleState = (state: string, job: Pick<Job, 'delay'>) =>
  inFairIndex(state, job) ? 'waiting' : state;
