/**
 * Keep-alive agents that enforce the destination policy on the address actually connected to.
 *
 * A check before the request would be defeated by DNS rebinding (the name resolves again at
 * connect time) and would miss IP-literal URLs, for which Node never calls lookup. So the
 * check sits in createConnection: IP literals are refused before any socket connects, and
 * names are resolved through a wrapped lookup that refuses denied answers before Node
 * connects. (Node 20 ignores the `blockList` connect option; it arrived in 22.13.)
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dns from 'node:dns';

export type AddressGuard = (address: string, host: string) => string | undefined;

export class EgressBlockedError extends Error {
  override name = 'EgressBlockedError';
  readonly code = 'ERR_INVOKE_URL_BLOCKED';
}

type LookupFn = typeof dns.lookup;
type ConnectOptions = net.NetConnectOpts & {
  host?: string;
  servername?: string;
  lookup?: LookupFn;
};

export function guardedLookup(guard: AddressGuard, inner: LookupFn): LookupFn {
  const wrapped = (
    hostname: string,
    options: dns.LookupOptions,
    callback: (...args: unknown[]) => void,
  ) => {
    (inner as (h: string, o: dns.LookupOptions, cb: (...a: unknown[]) => void) => void)(
      hostname,
      options,
      (err, address, family) => {
        if (err) return callback(err);
        const all = Array.isArray(address)
          ? (address as dns.LookupAddress[])
          : [{ address: address as string, family: family as number }];
        // A name with any denied answer is refused outright: mixed answers are a rebinding trick.
        for (const a of all) {
          const why = guard(a.address, hostname);
          if (why) return callback(new EgressBlockedError(`${hostname} resolves to a ${why}`));
        }
        callback(null, address, family);
      },
    );
  };
  return wrapped as unknown as LookupFn;
}

/** Returns a socket already destroyed with the error, without connecting anywhere. */
function refusedSocket(err: Error): net.Socket {
  const socket = new net.Socket();
  process.nextTick(() => socket.destroy(err));
  return socket;
}

function guardConnect(guard: AddressGuard, options: ConnectOptions): Error | undefined {
  const host = (options.host ?? '').replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    const why = guard(host, host);
    if (why) return new EgressBlockedError(`${host} is a ${why}`);
  } else {
    options.lookup = guardedLookup(guard, options.lookup ?? dns.lookup);
  }
  return undefined;
}

export class GuardedHttpAgent extends http.Agent {
  constructor(
    private readonly guard: AddressGuard,
    options: http.AgentOptions,
  ) {
    super(options);
  }
  override createConnection(
    options: ConnectOptions,
    callback?: (err: Error | null, s: net.Socket) => void,
  ): net.Socket {
    const refused = guardConnect(this.guard, options);
    if (refused) return refusedSocket(refused);
    return (
      http.Agent.prototype as unknown as {
        createConnection: (o: unknown, cb: unknown) => net.Socket;
      }
    ).createConnection.call(this, options, callback);
  }
}

export class GuardedHttpsAgent extends https.Agent {
  constructor(
    private readonly guard: AddressGuard,
    options: https.AgentOptions,
  ) {
    super(options);
  }
  override createConnection(
    options: ConnectOptions,
    callback?: (err: Error | null, s: net.Socket) => void,
  ): net.Socket {
    const refused = guardConnect(this.guard, options);
    if (refused) return refusedSocket(refused);
    return (
      https.Agent.prototype as unknown as {
        createConnection: (o: unknown, cb: unknown) => net.Socket;
      }
    ).createConnection.call(this, options, callback);
  }
}
