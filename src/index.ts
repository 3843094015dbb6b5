/** Public surface of the package: the producers' client, the contract schemas and types, error codes, the jobId derivation. */
export {
  invokeJobSchema,
  requestSchema,
  saveSchema,
  describeIssues,
  METHODS,
  type InvokeJob,
  type InvokeJobInput,
  type InvokeRequest,
} from './contract/job.js';
export { envelopeSchema, type Envelope } from './contract/envelope.js';
export { continuationEventSchema, EVENT_TYPES, type ContinuationEvent } from './contract/event.js';
export {
  ERROR_CODES,
  RETRYABLE_STATUSES,
  retryPolicy,
  InvokeError,
  type ErrorCode,
} from './contract/errors.js';
export { idempotencyKey, parseIdempotencyKey } from './contract/idempotency.js';
export { BACKOFF_TYPE } from './queue/backoff.js';
export { JOB_NAME } from './queue/job-options.js';
export {
  createInvokeClient,
  defaultJobOptions,
  type InvokeClient,
  type InvokeClientOptions,
  type EnqueueResult,
  type JobOptions,
  type CompleteResult,
} from './client/create-invoke-client.js';
export type { InvocationStatus } from './client/status.js';
export { InvalidJobError, parseJob, type JobIssue } from './contract/invalid-job.js';
export type { DryRunResult, DryRunInput } from './dry-run/dry-run.js';
export type { ShownRequest } from './dry-run/mask.js';
