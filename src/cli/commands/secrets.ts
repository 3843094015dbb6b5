/**
 * invoke-api secrets set | list | delete | rotate-key: tenant secrets (contract v1.1 section
 * 6.1), a thin surface over tenants/secrets.ts and the vault, like the HTTP routes. The value
 * of `set` is read from stdin (never an argument: arguments end up in shell history and in
 * `ps`); no command prints a value.
 */
import { Command, Option } from 'commander';
import { ConfigError } from '../../config.js';
import { withTimeout } from '../../lib/with-timeout.js';
import { redactUrl } from '../../lib/redact-url.js';
import { config, EXIT, fail } from '../context.js';
import { json, out, table } from '../output.js';
import type { Tenancy } from '../../tenants/index.js';

async function withTenancy(fn: (t: Tenancy) => Promise<number | void>): Promise<void> {
  const cfg = config();
  const { createRedis } = await import('../../redis.js');
  const { createTenancy, TenantInputError, SecretsDisabledError } = await import(
    '../../tenants/index.js'
  );
  const redis = createRedis(cfg, 'cli-secrets');
  let code: number = EXIT.ok;
  try {
    if (!(await withTimeout(redis.ping(), 5000)))
      fail(EXIT.redis, `Redis unreachable at ${redactUrl(cfg.REDIS_URL)}`);
    code = (await fn(createTenancy(cfg, redis))) ?? EXIT.ok;
  } catch (err) {
    const usage =
      err instanceof TenantInputError ||
      err instanceof SecretsDisabledError ||
      err instanceof ConfigError;
    code = usage ? EXIT.usage : EXIT.problem;
    process.stderr.write(
      `invoke-api: ${usage ? (err as Error).message : `secrets: ${(err as Error).name}`}\n`,
    );
  } finally {
    redis.disconnect();
  }
  process.exit(code);
}

/** All of stdin; one trailing newline dropped (`printf` and `echo` both work). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('secret value (end with Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export const secretsCommand = () => {
  const cmd = new Command('secrets').description(
    "a tenant's secrets for {{ secrets.NAME }}: set, list, delete (values are write-only), and rotate-key",
  );
  cmd
    .command('set')
    .argument('<tenant>', 'tenant id')
    .argument('<name>', 'secret name, ^[A-Z][A-Z0-9_]{0,63}$')
    .description(
      'set a secret; the value is read from stdin (e.g. printf %s "$KEY" | invoke-api secrets set acme API_KEY --hosts api.partner.com)',
    )
    .addOption(
      new Option(
        '--hosts <hosts>',
        'comma-separated hosts or *.domain globs the secret may be sent to',
      ).makeOptionMandatory(),
    )
    .action((tenant: string, name: string, o: { hosts: string }) =>
      withTenancy(async (t) => {
        const hosts = o.hosts
          .split(',')
          .map((h) => h.trim())
          .filter(Boolean);
        await t.secrets.set(tenant, name, { value: await readStdin(), hosts });
        out(`secret ${name} of tenant ${tenant} set (hosts: ${hosts.join(', ')})`);
      }),
    );
  cmd
    .command('list')
    .argument('<tenant>', 'tenant id')
    .description("a tenant's secret names, hosts and update times (never values)")
    .option('--json', 'machine-readable output')
    .action((tenant: string, o: { json?: boolean }) =>
      withTenancy(async (t) => {
        const rows = await t.secrets.list(tenant);
        if (o.json) return void json(rows);
        out(
          table(
            rows.map((r) => ({ ...r, hosts: r.hosts.join(',') })),
            ['name', 'hosts', 'updatedAt'],
          ),
        );
      }),
    );
  cmd
    .command('delete')
    .argument('<tenant>', 'tenant id')
    .argument('<name>', 'secret name')
    .description('delete a secret (workers stop using it within INVOKE_SECRETS_CACHE_MS)')
    .action((tenant: string, name: string) =>
      withTenancy(async (t) => {
        if (!(await t.secrets.delete(tenant, name))) {
          process.stderr.write(`invoke-api: tenant ${tenant} has no secret ${name}\n`);
          return EXIT.problem;
        }
        out(`secret ${name} of tenant ${tenant} deleted`);
      }),
    );
  cmd
    .command('rotate-key')
    .description(
      're-encrypt every stored secret and credential under INVOKE_SECRETS_KEY (the previous key in INVOKE_SECRETS_OLD_KEYS); safe to run while workers run, and to run again',
    )
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      withTenancy(async (t) => {
        const report = await t.vault.rotate();
        if (o.json) json(report);
        else {
          out(
            `${report.resealed} re-encrypted, ${report.current} already under the current key, ${report.failed.length} could not be opened`,
          );
          for (const f of report.failed)
            out(
              `  cannot open ${f}: set it again, or add the key it was sealed with to INVOKE_SECRETS_OLD_KEYS`,
            );
          if (report.failed.length === 0 && report.raced === 0)
            out('done: the old keys can be removed from INVOKE_SECRETS_OLD_KEYS');
        }
        return report.failed.length > 0 ? EXIT.problem : EXIT.ok;
      }),
    );
  for (const sub of cmd.commands) sub.exitOverride();
  return cmd;
};
