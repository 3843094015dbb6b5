/** npm run gen:schema: writes schema/invoke-job.schema.json from the zod schema (test/producers/schema.test.ts checks it). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobSchemaText } from '../src/contract/json-schema.js';

const file = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'schema',
  'invoke-job.schema.json',
);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, jobSchemaText());
process.stdout.write(`wrote ${file}\n`);
