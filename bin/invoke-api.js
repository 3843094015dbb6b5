#!/usr/bin/env node
// The CLI's launcher: the CLI itself is TypeScript compiled to dist/. Before a build, say what
// to run instead of Node's raw "Cannot find module .../dist/cli/index.js".
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('invoke-api: the CLI is not built yet (dist/cli/index.js is missing): run `npm run build` in the package directory first\n');
  process.exit(2);
}
await import(entry.href);
