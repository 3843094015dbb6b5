/**
 * Sentinel over TLS: a master and a Sentinel that listen only on TLS ports, with a private CA.
 * The built CLI reaches the master through the Sentinel with REDIS_SENTINEL_TLS=true and a
 * rediss:// REDIS_URL (the private CA trusted through NODE_EXTRA_CA_CERTS, as an operator
 * would); without REDIS_SENTINEL_TLS it cannot ask the Sentinel, and with redis:// it would
 * talk plain text to a TLS-only master.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const certs = mkdtempSync(path.join(tmpdir(), 'invoke-tls-'));
const file = (name: string) => path.join(certs, name);
const servers: RedisServer[] = [];
let sentinelPort = 0;

/** A CA and a server certificate for 127.0.0.1 signed by it. */
function makeCerts(): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    file('server.crt'),
    '-extfile',
    writeExt(),
  );
}

function writeExt(): string {
  const ext = file('san.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > "${ext}"`]);
  return ext;
}

const tlsArgs = (port: number) => [
  '--port',
  '0',
  '--tls-port',
  String(port),
  '--tls-cert-file',
  file('server.crt'),
  '--tls-key-file',
  file('server.key'),
  '--tls-ca-cert-file',
  file('ca.crt'),
  '--tls-auth-clients',
  'no',
];

beforeAll(async () => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch {
    console.log('[sentinel-tls.test] openssl not found: skipping the TLS Sentinel check');
    return;
  }
  makeCerts();
  ensureBuilt();
  const masterPort = await freePort();
  servers.push(await startRedisServer({ port: masterPort, args: tlsArgs(masterPort) }));
  sentinelPort = await freePort();
  servers.push(
    await startRedisServer({
      port: sentinelPort,
      conf: [`sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`, 'tls-replication yes', ''].join(
        '\n',
      ),
      args: ['--sentinel', ...tlsArgs(sentinelPort)],
      ready: /\+monitor master/,
    }),
  );
}, 60_000);
afterAll(async () => {
  for (const s of servers) await s.destroy();
  rmSync(certs, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({
  REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
  REDIS_SENTINEL_NAME: 'mymaster',
  INVOKE_QUEUE: 'sentinel-tls',
  INVOKE_REDIS_STARTUP_GRACE_MS: '2000',
  NODE_EXTRA_CA_CERTS: file('ca.crt'),
  ...extra,
});

it('reaches a TLS master through a TLS Sentinel; each TLS setting is needed', async (ctx) => {
  if (!sentinelPort) ctx.skip();
  const ok = await runCli(
    ['status', '--json'],
    env({ REDIS_URL: 'rediss://sentinel-managed:6379', REDIS_SENTINEL_TLS: 'true' }),
  );
  expect(ok.code, ok.stderr).toBe(0);
  expect(ok.json()).toHaveProperty('counts');

  const plainSentinel = await runCli(
    ['status', '--json'],
    env({ REDIS_URL: 'rediss://sentinel-managed:6379' }),
  );
  expect(plainSentinel.code).toBe(3);
  const plainMaster = await runCli(
    ['status', '--json'],
    env({ REDIS_URL: 'redis://sentinel-managed:6379', REDIS_SENTINEL_TLS: 'true' }),
  );
  expect(plainMaster.code).toBe(3);
}, 60_000);
