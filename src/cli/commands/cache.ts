/** invoke-api cache clear: drop one step's cached responses (src/ops/cache.ts). */
import { Command, Option } from 'commander';
import { withOps } from '../context.js';
import { json, out } from '../output.js';

type ClearOpts = { journey: string; step: string; tenant?: string; json?: boolean };

export const cacheCommand = () => {
  const cache = new Command('cache').description('the step response cache (docs/outcomes.md)');
  cache
    .command('clear')
    .description("drop a step's cached responses, for every tenant or one")
    .exitOverride()
    .addOption(new Option('--journey <journeyId>', 'the journey id').makeOptionMandatory())
    .addOption(new Option('--step <stepId>', 'the step id').makeOptionMandatory())
    .option('--tenant <tenantId>', "only this tenant's entries")
    .option('--json', 'machine-readable output')
    .action((o: ClearOpts) =>
      withOps(async (ops) => {
        const done = await ops.clearCache({
          journeyId: o.journey,
          stepId: o.step,
          tenantId: o.tenant,
        });
        if (o.json) return void json(done);
        out(
          `${done.removed} cached responses of ${o.journey}/${o.step}${o.tenant ? ` (tenant ${o.tenant})` : ''} removed`,
        );
      }),
    );
  return cache;
};
