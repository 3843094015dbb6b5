/** Runs the BUILT CLI (dist/cli/index.js) as a subprocess, as an operator would. */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${root}dist/cli/index.js`;

/** `npm test` builds first; a lone `vitest run` builds once if dist is missing. */
export function ensureBuilt(): void {
  if (!existsSync(CLI))
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => any;
}

export function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, cwd: opts.cwd ?? root, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
        const parse = () => {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(
              `invoke-api ${args.join(' ')} exited ${code} with no JSON; stderr: ${stderr}`,
            );
          }
        };
        resolve({ code, stdout, stderr, json: parse });
      },
    );
  });
}
