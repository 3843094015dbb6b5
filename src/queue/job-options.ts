/**
 * What producers and the worker must agree on about a BullMQ job besides its data: the job
 * name, and how long finished jobs are kept (BullMQ keeps them forever otherwise). The client's
 * defaults and the worker's options both come from here.
 */
import type { Config } from '../config.js';

export const JOB_NAME = 'invoke';

export type RetentionConfig = Pick<
  Config,
  | 'INVOKE_RETAIN_COMPLETED_SECONDS'
  | 'INVOKE_RETAIN_COMPLETED_COUNT'
  | 'INVOKE_RETAIN_FAILED_SECONDS'
  | 'INVOKE_RETAIN_FAILED_COUNT'
>;

/** BullMQ's removeOnComplete / removeOnFail for the configured retention. */
export function retention(cfg: RetentionConfig) {
  return {
    removeOnComplete: {
      age: cfg.INVOKE_RETAIN_COMPLETED_SECONDS,
      count: cfg.INVOKE_RETAIN_COMPLETED_COUNT,
    },
    removeOnFail: { age: cfg.INVOKE_RETAIN_FAILED_SECONDS, count: cfg.INVOKE_RETAIN_FAILED_COUNT },
  };
}
