/** Public surface of the package: the contract schemas and types, error codes, the jobId derivation. */
export { invokeJobSchema, requestSchema, saveSchema, describeIssues, METHODS, type InvokeJob, type InvokeJobInput, type InvokeRequest } from './contract/job.js';
export { envelopeSchema, type Envelope } from './contract/envelope.js';
export { continuationEventSchema, EVENT_TYPES, type ContinuationEvent } from './contract/event.js';
export { ERROR_CODES, RETRYABLE_STATUSES, retryPolicy, InvokeError, type ErrorCode } from './contract/errors.js';
export { idempotencyKey, parseIdempotencyKey } from './contract/idempotency.js';
export { BACKOFF_TYPE } from './worker/backoff.js';
export { JOB_NAME } from './worker/create-worker.js';
