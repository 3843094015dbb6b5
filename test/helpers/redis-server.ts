/**
 * A private redis-server on a free loopback port with its own temp dir, for tests that kill,
 * restart or cut Redis (the shared Redis on 6379 must never be touched that way). Optional AOF
 * with appendfsync always, so a kill -9 of Redis loses nothing that was acknowledged.
 * Also: a 3-master Redis Cluster on loopback, and a TCP proxy that can make Redis unreachable.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** Stops the process: SIGTERM (clean shutdown) or SIGKILL (crash). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and dir (AOF is replayed). */
  start(): Promise<void>;
  /** Stops it for good and removes its dir. */
  destroy(): Promise<void>;
}

export interface RedisServerOptions {
  aof?: boolean;
  port?: number;
  args?: string[];
  /** A config file's content (Sentinel needs one it can rewrite) and the line that says ready. */
  conf?: string;
  ready?: RegExp;
}

/** A port that is free now (and, for Cluster, whose bus port +10000 is free too). */
export async function freePort(withBus = false): Promise<number> {
  for (;;) {
    const port = withBus ? 20000 + Math.floor(Math.random() * 20000) : await listenAndClose(0);
    if (!withBus) return port;
    if (
      (await listenAndClose(port).catch(() => 0)) &&
      (await listenAndClose(port + 10000).catch(() => 0))
    )
      return port;
  }
}

function listenAndClose(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'invoke-redis-'));
  const confArgs = opts.conf === undefined ? [] : [path.join(dir, 'redis.conf')];
  if (opts.conf !== undefined) writeFileSync(confArgs[0]!, opts.conf);
  const args = [
    ...confArgs,
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--appendonly',
    opts.aof ? 'yes' : 'no',
    '--appendfsync',
    'always',
    ...(opts.args ?? []),
  ];
  let proc: ChildProcess | undefined;

  async function start(): Promise<void> {
    proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = proc;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        p.kill('SIGKILL'); // never leave a half-started server behind
        reject(new Error(`redis-server on ${port} did not start: ${out}`));
      }, 10_000);
      p.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if ((opts.ready ?? /Ready to accept connections/).test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${port} exited (${code}): ${out}`));
      });
    });
    p.stdout!.resume();
  }

  async function stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill(signal);
    await exited;
  }

  await start().catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async destroy() {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" for REDIS_CLUSTER_NODES. */
  seeds: string;
  destroy(): Promise<void>;
}

/** Masters (3 by default), no replicas, all 16384 slots assigned, cluster_state:ok on every node. */
export async function startRedisCluster(
  opts: { masters?: number; password?: string } = {},
): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const auth = opts.password ? ['--requirepass', opts.password, '--masterauth', opts.password] : [];
  const cliAuth = opts.password ? ['-a', opts.password, '--no-auth-warning'] : [];
  for (let i = 0; i < (opts.masters ?? 3); i++) {
    const port = await freePort(true);
    nodes.push(
      await startRedisServer({
        port,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '5000',
          ...auth,
        ],
      }),
    );
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  await run('redis-cli', [
    ...cliAuth,
    '--cluster',
    'create',
    ...addrs,
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  for (const n of nodes) {
    for (let i = 0; ; i++) {
      const { stdout } = await run('redis-cli', [
        ...cliAuth,
        '-p',
        String(n.port),
        'cluster',
        'info',
      ]);
      if (stdout.includes('cluster_state:ok')) break;
      if (i > 200) throw new Error(`cluster node ${n.port} never became ok`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    nodes,
    seeds: addrs.join(','),
    async destroy() {
      await Promise.all(nodes.map((n) => n.destroy()));
    },
  };
}

export interface TcpProxy {
  port: number;
  url: string;
  /** Drops every connection and refuses new ones: Redis is unreachable, yet keeps running. */
  cut(): Promise<void>;
  /** Accepts connections again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of a target port, so a test can make Redis unreachable. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  async function listen(): Promise<void> {
    server = net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      track(client);
      track(upstream);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as net.AddressInfo).port;
  }
  async function cut(): Promise<void> {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await listen();
  return { port, url: `redis://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}

export interface RedisSentinelSetup {
  master: RedisServer;
  replica: RedisServer;
  sentinel: RedisServer;
  /** "127.0.0.1:<sentinel port>" for REDIS_SENTINELS. */
  sentinels: string;
  destroy(): Promise<void>;
}

export interface RedisSentinelOptions {
  password?: string;
  /** The Sentinel's own requirepass (clients must AUTH to ask it anything). */
  sentinelPassword?: string;
  /** AOF (appendfsync always) on master and replica, so a kill -9 loses nothing acknowledged locally. */
  aof?: boolean;
  /** Sentinel's down-after-milliseconds (1000) and failover-timeout (5000). */
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

/** A master, one replica and one Sentinel (quorum 1) watching them as "mymaster". */
export async function startRedisSentinel(
  opts: RedisSentinelOptions = {},
): Promise<RedisSentinelSetup> {
  const auth = opts.password ? ['--requirepass', opts.password, '--masterauth', opts.password] : [];
  const started: RedisServer[] = [];
  const destroy = () => Promise.all(started.map((s) => s.destroy())).then(() => undefined);
  const track = (s: RedisServer) => {
    started.push(s);
    return s;
  };
  try {
    const master = track(await startRedisServer({ aof: opts.aof, args: auth }));
    const replica = track(
      await startRedisServer({
        aof: opts.aof,
        args: [...auth, '--replicaof', '127.0.0.1', String(master.port)],
        ready: /MASTER <-> REPLICA sync: Finished/,
      }),
    );
    const sentinel = track(
      await startRedisServer({
        conf: sentinelConf(master.port, opts),
        args: ['--sentinel'],
        ready: /\+monitor master/,
      }),
    );
    return { master, replica, sentinel, sentinels: `127.0.0.1:${sentinel.port}`, destroy };
  } catch (err) {
    await destroy(); // a failed start leaves no server or temp dir behind
    throw err;
  }
}

function sentinelConf(masterPort: number, opts: RedisSentinelOptions): string {
  const lines = [
    `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds mymaster ${opts.downAfterMs ?? 1000}`,
    `sentinel failover-timeout mymaster ${opts.failoverTimeoutMs ?? 5000}`,
    ...(opts.password ? [`sentinel auth-pass mymaster ${opts.password}`] : []),
    ...(opts.sentinelPassword ? [`requirepass ${opts.sentinelPassword}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
