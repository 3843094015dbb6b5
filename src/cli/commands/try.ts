/** invoke-api try STEP.json [--data data.json]: the dry run from a terminal; saves and emits nothing. */
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { EXIT, UsageError, config, fail } from '../context.js';
import { json, out } from '../output.js';

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`${what}: cannot read ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what}: ${path} is not JSON (${(err as Error).message})`);
  }
}

export const tryCommand = () =>
  new Command('try')
    .description(
      'render and send one step now (same egress policy and secrets as the worker); saves and emits nothing',
    )
    .argument('<step>', 'a job as JSON (the invoke job data of the contract)')
    .option('--data <file>', "JSON to use as the step's data (customer, event, ...)")
    .option('--json', 'machine-readable output')
    .action(async (step: string, o: { data?: string; json?: boolean }) => {
      const cfg = config();
      const [{ createDryRun }, { isInvokeError }] = await Promise.all([
        import('../../dry-run/dry-run.js'),
        import('../../contract/errors.js'),
      ]);
      const dry = createDryRun(cfg);
      try {
        const input = (await readJson(step, 'step')) as Record<string, unknown>;
        if (o.data) input.data = await readJson(o.data, 'data');
        const r = await dry.run(input);
        if (o.json) json(r);
        else {
          out(r.request ? `${r.request.method} ${r.request.url}` : '(request not rendered)');
          out(JSON.stringify(r.envelope, null, 2));
        }
        process.exitCode = r.envelope.ok ? EXIT.ok : EXIT.problem;
      } catch (err) {
        fail(
          err instanceof UsageError || isInvokeError(err) ? EXIT.usage : EXIT.problem,
          (err as Error).message,
        );
      } finally {
        dry.close();
      }
    });
