/**
 * `invoke-api credentials`: partner credentials (docs/auth.md), write only like tenant secrets.
 *
 *   invoke-api credentials set TENANT NAME       credential JSON read from stdin (never an argument)
 *   invoke-api credentials list TENANT [--json]  name, type, hosts, updatedAt (never a secret)
 *   invoke-api credentials delete TENANT NAME
 *   invoke-api credentials refresh TENANT NAME   drop the cached OAuth2 token ('-' = platform)
 *
 * A thin surface over src/auth/tenant-credentials.ts. Exit codes: 0 done, 1 not found,
 * 2 bad usage, input or configuration (the message names the field), 3 Redis unreachable.
 */
import { Command } from 'commander';
import type { Config } from '../../config.js';
import { config, EXIT, fail } from '../context.js';
import { createRedis, type RedisClient } from '../../redis.js';
import { createCredentialAdmin } from '../../auth/index.js';
import {
  CredentialInputError,
  CredentialsDisabledError,
  PLATFORM,
  type TenantCredentialsAdmin,
} from '../../auth/tenant-credentials.js';

const CONNECT_TIMEOUT_MS = 5000;
const print = (text: string) => process.stdout.write(`${text}\n`);

async function withAdmin(
  fn: (admin: TenantCredentialsAdmin, cfg: Config) => Promise<number | void>,
): Promise<void> {
  const cfg = config();
  const redis: RedisClient = createRedis(cfg, 'cli');
  const timer = setTimeout(
    () => fail(EXIT.redis, `Redis unreachable after ${CONNECT_TIMEOUT_MS} ms`),
    CONNECT_TIMEOUT_MS,
  );
  let code: number = EXIT.ok;
  try {
    await redis.ping();
    clearTimeout(timer);
    code = (await fn(createCredentialAdmin(cfg, redis), cfg)) ?? EXIT.ok;
  } catch (err) {
    if (!(err instanceof CredentialInputError || err instanceof CredentialsDisabledError))
      throw err;
    process.stderr.write(`invoke-api: ${err.message}\n`);
    code = EXIT.usage;
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
  process.exit(code);
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    fail(
      EXIT.usage,
      'pipe the credential JSON on stdin, e.g. invoke-api credentials set acme CRM < crm.json',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function credentialsCommand(): Command {
  const cmd = new Command('credentials').description(
    'partner credentials for request.auth (write only): set, list, delete, refresh a cached token',
  );

  cmd
    .command('set')
    .description('save a tenant credential; its JSON is read from stdin')
    .argument('<tenant>')
    .argument('<name>')
    .action(async (tenant: string, name: string) => {
      const text = await readStdin();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        fail(
          EXIT.usage,
          'stdin: not JSON (a credential object such as {"type":"basic","hosts":["api.partner.com"],"username":"...","password":"..."})',
        );
      }
      return withAdmin(async (admin) => {
        await admin.set(tenant, name, body);
        print(`credential ${name} of tenant ${tenant} saved`);
      });
    });

  cmd
    .command('list')
    .description("a tenant's credentials: name, type, hosts, updatedAt")
    .argument('<tenant>')
    .option('--json', 'machine-readable output')
    .action((tenant: string, o: { json?: boolean }) =>
      withAdmin(async (admin) => {
        const rows = await admin.list(tenant);
        if (o.json) return void print(JSON.stringify(rows, null, 2));
        print(
          rows.length === 0
            ? '(no credentials)'
            : rows
                .map((r) => `${r.name}  ${r.type}  ${r.hosts.join(',')}  ${r.updatedAt}`)
                .join('\n'),
        );
      }),
    );

  cmd
    .command('delete')
    .description('delete a tenant credential (and its cached token)')
    .argument('<tenant>')
    .argument('<name>')
    .action((tenant: string, name: string) =>
      withAdmin(async (admin) => {
        if (await admin.delete(tenant, name))
          return void print(`credential ${name} of tenant ${tenant} deleted`);
        process.stderr.write(`invoke-api: tenant ${tenant} has no credential ${name}\n`);
        return EXIT.problem;
      }),
    );

  cmd
    .command('refresh')
    .description(
      `drop a credential's cached OAuth2 token: the next call requests a new one (tenant '${PLATFORM}' = platform credential)`,
    )
    .argument('<tenant>')
    .argument('<name>')
    .action((tenant: string, name: string) =>
      withAdmin(async (admin) => {
        const dropped = await admin.refresh(tenant, name);
        print(
          dropped
            ? `cached token of ${name} dropped`
            : `no cached token for ${name} (the next call requests one anyway)`,
        );
      }),
    );

  for (const sub of cmd.commands) sub.exitOverride();
  return cmd;
}
