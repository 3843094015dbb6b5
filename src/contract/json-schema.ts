/**
 * The JSON Schema of the job data for producers not written in TypeScript (contract section 1,
 * way 3), generated from the zod schema the worker validates with, never written by hand.
 * `io: 'input'` describes what a producer may send: fields with defaults are optional.
 * scripts/gen-schema.ts writes it to schema/invoke-job.schema.json; a test keeps them in sync.
 */
import { z } from 'zod';
import { invokeJobSchema } from './job.js';

export const JOB_SCHEMA_ID = 'https://invoke-api-worker/schema/invoke-job.schema.json';

export function invokeJobJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(invokeJobSchema, {
    io: 'input',
    target: 'draft-2020-12',
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: JOB_SCHEMA_ID,
    title: 'Invoke API job data (contract v1)',
    description:
      'Data of a BullMQ job named "invoke" on the invoke-api queue. Generated from src/contract/job.ts by npm run gen:schema.',
    ...rest,
  };
}

/** The file's exact text: stable key order, two-space indent, trailing newline. */
export const jobSchemaText = () => `${JSON.stringify(invokeJobJsonSchema(), null, 2)}\n`;
