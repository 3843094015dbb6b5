/** schema/invoke-job.schema.json is generated from the zod schema and must stay in sync. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jobSchemaText, invokeJobJsonSchema } from '../../src/contract/json-schema.js';

const file = new URL('../../schema/invoke-job.schema.json', import.meta.url);

describe('schema/invoke-job.schema.json', () => {
  it('is exactly what npm run gen:schema writes from src/contract/job.ts', () => {
    expect(readFileSync(file, 'utf8'), 'run npm run gen:schema and commit the file').toBe(
      jobSchemaText(),
    );
  });

  it('describes the input side: defaulted fields are optional, unknown fields are refused', () => {
    const schema = invokeJobJsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { required?: string[] }>;
    };
    expect(schema.required.sort()).toEqual([
      'customerId',
      'journeyId',
      'request',
      'runId',
      'save',
      'stepId',
      'v',
    ]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.request!.required).toEqual(['url']);
  });
});
