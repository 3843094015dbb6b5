/**
 * A Redis connection through Sentinel that moves to a new master as soon as a Sentinel
 * announces `+switch-master`, instead of writing to the old master until it is demoted (those
 * writes are lost when it resyncs).
 *
 * ioredis has this built in (`failoverDetector: true`), but its detector ends the connection for
 * good when the announcement arrives while a reconnect is asking a Sentinel for the master
 * (SentinelConnector's connect sees `connecting` cleared by the detector, throws "Connection is
 * closed", and the client goes to status `end`, rejecting every command from then on). After a
 * master crash every connection is reconnecting at that moment: in
 * test/reliability/sentinel-switch.test.ts 8 to 40 of 40 connections ended so with ioredis 6.0.0,
 * (the callbacks failover test saw it once: every callback after the switch answered 500).
 *
 * Here each connection listens to the Sentinels itself and reconnects only when it is connected
 * (status connect or ready): a connection that is already reconnecting asks a Sentinel for the
 * master anyway, and a reconnect aimed at a demoted master is refused or answered READONLY,
 * which redis.ts also reconnects on.
 */
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';

export interface SentinelAddress {
  host: string;
  port: number;
}
/** How to talk to the Sentinels themselves: their ACL user, password and TLS, when they have them. */
export interface SentinelAccess {
  username?: string | undefined;
  password?: string | undefined;
  tls?: ConnectionOptions | undefined;
}
type Options = RedisOptions & {
  sentinels: SentinelAddress[];
  name: string;
  sentinelAccess?: SentinelAccess;
};

const SWITCH = '+switch-master';

export class SentinelRedis extends Redis {
  constructor(options: Options) {
    const access = options.sentinelAccess ?? {};
    // The cast picks the constructor of a connection with ioredis's default (legacy) replies.
    super({
      ...options,
      failoverDetector: false,
      // ioredis's own master lookups, with the same access as the switch watch below.
      sentinelUsername: access.username,
      sentinelPassword: access.password,
      sentinelTLS: access.tls,
    } as RedisOptions & { replyMapping?: 'legacy' });
    followSwitches(this, options.sentinels, options.name, access);
  }

  /** BullMQ duplicates its connection for blocking reads: the copy follows a switch too. */
  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new SentinelRedis({ ...this.options, ...override } as Options);
  }
}

/**
 * One subscriber per Sentinel (as ioredis's detector has), closed with the connection. It reaches
 * the Sentinels as ioredis's master lookups do: without their password a protected Sentinel
 * refuses the SUBSCRIBE, and the connection would learn of a switch only from READONLY.
 */
function followSwitches(
  client: Redis,
  sentinels: SentinelAddress[],
  name: string,
  access: SentinelAccess,
): void {
  // Every Sentinel announces the same switch: act on it once, not once per Sentinel.
  let lastSwitch = '';
  const listeners = sentinels.map(({ host, port }) => {
    const sub = new Redis({
      host,
      port,
      username: access.username,
      password: access.password,
      tls: access.tls,
      maxRetriesPerRequest: null,
      retryStrategy: (n) => Math.min(n * 200, 2000),
      connectionName: 'invoke-api:sentinel-watch',
    });
    sub.on('error', () => undefined); // one Sentinel down: the others still announce
    sub.on('message', (_channel: string, message: string) => {
      // "<master name> <old ip> <old port> <new ip> <new port>"
      const [master, , , newHost, newPort] = message.split(' ');
      if (master !== name || message === lastSwitch) return;
      lastSwitch = message;
      // A connection that reconnected to the new master before the announcement stays.
      if (connectedTo(client, newHost, Number(newPort))) return;
      if (client.status === 'ready' || client.status === 'connect') client.disconnect(true);
    });
    // Resubscribed by ioredis after a reconnect (autoResubscribe).
    void sub.subscribe(SWITCH).catch(() => undefined);
    return sub;
  });
  client.once('end', () => {
    for (const sub of listeners) sub.disconnect();
  });
}

function connectedTo(client: Redis, host: string | undefined, port: number): boolean {
  // Undefined before the first connection (ioredis declares it always set).
  const socket = client.stream as Redis['stream'] | undefined;
  if (!socket || !host || !('remotePort' in socket) || socket.remotePort !== port) return false;
  return socket.remoteAddress === host || socket.remoteAddress === `::ffff:${host}`;
}
