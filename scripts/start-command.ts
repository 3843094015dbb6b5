/**
 * The node arguments `npm start` runs the service with (package.json "start"), so the bench
 * measures and the tests start exactly what production runs; test/docs/quickstart.test.ts
 * holds the Docker image's CMD to the same.
 */
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url);

/** ["--max-semi-space-size=32", "dist/main.js"]: what follows `node` in the start script. */
export function startArgs(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    scripts: { start: string };
  };
  const [node, ...args] = pkg.scripts.start.trim().split(/\s+/);
  if (node !== 'node' || args.at(-1) !== 'dist/main.js')
    throw new Error(
      `package.json "start" must be "node [flags] dist/main.js", not "${pkg.scripts.start}"`,
    );
  return args;
}
