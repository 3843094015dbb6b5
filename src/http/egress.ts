/**
 * Destination policy (docs/security.md): which URLs and addresses a marketer-configured step
 * may reach. Pure functions over a policy built once from config; the guarded agents
 * (guarded-agent.ts) call addressGuard on the address actually connected to.
 *
 * Rule: deny whatever ipaddr.js does not call global 'unicast' (loopback, RFC 1918, CGNAT,
 * link-local and metadata 169.254.169.254, multicast, reserved, documentation, benchmark,
 * ULA, NAT64, 6to4, Teredo, ...), plus what it calls unicast but is not: ::/96
 * (IPv4-compatible) and IPv6 outside 2000::/3. IPv4-mapped IPv6 is judged by the IPv4 inside.
 * INVOKE_ALLOW_PRIVATE exempts CIDRs and hosts; bad entries stop the start (ConfigError).
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';
import { InvokeError } from '../contract/errors.js';
import { ConfigError, type Config, type Secret } from '../config.js';

export interface EgressPolicy {
  allowCidrs: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  allowPrivateHosts: string[];
  allowHosts: string[];
  denyPorts: ReadonlySet<number>;
}

export function createEgressPolicy(
  cfg: Pick<Config, 'INVOKE_ALLOW_PRIVATE' | 'INVOKE_ALLOW_HOSTS' | 'INVOKE_DENY_PORTS'>,
): EgressPolicy {
  const allowCidrs: EgressPolicy['allowCidrs'] = [];
  const allowPrivateHosts: string[] = [];
  for (const entry of cfg.INVOKE_ALLOW_PRIVATE) {
    if (entry.includes('/') || isIP(entry)) allowCidrs.push(parseCidr(entry));
    else allowPrivateHosts.push(hostGlob('INVOKE_ALLOW_PRIVATE', entry));
  }
  const allowHosts = cfg.INVOKE_ALLOW_HOSTS.map((h) => hostGlob('INVOKE_ALLOW_HOSTS', h));
  return { allowCidrs, allowPrivateHosts, allowHosts, denyPorts: new Set(cfg.INVOKE_DENY_PORTS) };
}

/** A CIDR or a bare address (as /32 or /128); a bad one stops the process naming the variable. */
function parseCidr(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  try {
    return entry.includes('/')
      ? ipaddr.parseCIDR(entry)
      : ipaddr.parseCIDR(`${entry}/${isIP(entry) === 4 ? 32 : 128}`);
  } catch {
    throw new ConfigError(
      `INVOKE_ALLOW_PRIVATE: "${entry}" is neither a CIDR (10.0.0.0/8, fd00::/8) nor a host name`,
    );
  }
}

/** A host name or `*.domain` glob; URLs, ports and paths would silently never match, so refuse them. */
function hostGlob(variable: string, entry: string): string {
  // An address in INVOKE_ALLOW_HOSTS is compared with URL.hostname: canonical, IPv6 in brackets.
  if (isIP(entry) === 4) return ipaddr.parse(entry).toString();
  if (isIP(entry) === 6) return `[${ipaddr.parse(entry).toString()}]`;
  const glob = entry.toLowerCase();
  if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(glob))
    throw new ConfigError(`${variable}: "${entry}" is not a host name or *.domain glob`);
  return glob.replace(/\.$/, '');
}

/** `*.partner.com` matches any subdomain (not partner.com itself); anything else is exact. */
export function hostMatches(glob: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (glob.startsWith('*.')) return h.endsWith(glob.slice(1)) && h.length > glob.length - 1;
  return h === glob;
}

const inAllowedCidr = (policy: EgressPolicy, addr: ipaddr.IPv4 | ipaddr.IPv6) =>
  policy.allowCidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));

const verdicts = new WeakMap<EgressPolicy, Map<string, string | undefined>>();

/**
 * Why an address may not be connected to, or undefined when it may. Remembered per policy (a
 * policy never changes): an IP-literal URL is checked on every call, and parsing is the cost.
 */
export function checkAddress(policy: EgressPolicy, address: string): string | undefined {
  let seen = verdicts.get(policy);
  if (!seen) verdicts.set(policy, (seen = new Map()));
  if (seen.has(address)) return seen.get(address);
  const why = judgeAddress(policy, address);
  if (seen.size >= 1000) seen.clear();
  seen.set(address, why);
  return why;
}

function judgeAddress(policy: EgressPolicy, address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(bare)) return `not an IP address`;
  let addr = ipaddr.parse(bare);
  if (inAllowedCidr(policy, addr)) return undefined;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    if (inAllowedCidr(policy, addr)) return undefined;
  }
  const range = addr.range();
  if (range !== 'unicast') return `${range} address`;
  if (addr.kind() === 'ipv4') return undefined;
  // ::/96 (deprecated IPv4-compatible, RFC 4291 2.5.5.1): ipaddr.js calls it unicast.
  if (
    addr
      .toByteArray()
      .slice(0, 12)
      .every((b) => b === 0)
  )
    return 'ipv4Compatible address';
  // Global unicast is 2000::/3 (RFC 4291 2.4, IANA); ipaddr.js calls the unassigned rest unicast too.
  if (!addr.match(GLOBAL_UNICAST_V6, 3)) return 'non-global address';
  return undefined;
}

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parse('2000::');

/**
 * The check the guarded agents run on every address they would connect to: a host named in
 * INVOKE_ALLOW_PRIVATE may resolve anywhere, any other address must pass checkAddress.
 */
export const addressGuard =
  (policy: EgressPolicy) =>
  (address: string, host: string): string | undefined =>
    isPrivateHostAllowed(policy, host) ? undefined : checkAddress(policy, address);

const blocked = (url: URL, why: string) =>
  new InvokeError('URL_BLOCKED', `${url.hostname}: ${why}`);

/** Checks the parts of a URL known before any DNS lookup. Throws URL_BLOCKED. */
export function checkUrl(policy: EgressPolicy, url: URL): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw blocked(url, `scheme ${url.protocol.slice(0, -1)} is not allowed (http and https only)`);
  if (url.username || url.password) throw blocked(url, 'credentials in the URL are not allowed');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (policy.denyPorts.has(port)) throw blocked(url, `port ${port} is not allowed`);
  const host = url.hostname.toLowerCase();
  // got reads http://unix:/path.sock:/x as a UNIX socket (refused unless enabled): refuse it here, for good.
  if (host === 'unix') throw blocked(url, 'UNIX socket URLs are not allowed');
  if (policy.allowHosts.length > 0 && !policy.allowHosts.some((g) => hostMatches(g, host)))
    throw blocked(url, 'host is not in INVOKE_ALLOW_HOSTS');
  // WHATWG URL has already normalised 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 to 127.0.0.1.
  const literal = host.replace(/^\[|\]$/g, '');
  if (isIP(literal)) {
    const why = checkAddress(policy, literal);
    if (why) throw blocked(url, `${why} is not allowed`);
  }
}

/** True when the host is exempted by name in INVOKE_ALLOW_PRIVATE (its addresses are not checked). */
export const isPrivateHostAllowed = (policy: EgressPolicy, host: string) =>
  policy.allowPrivateHosts.some((g) => hostMatches(g, host));

/** INVOKE_SECRET_<NAME>_HOSTS: a bound secret may only travel to its hosts (contract section 1). */
export function checkSecretBindings(
  secrets: ReadonlyMap<string, Secret>,
  used: Iterable<string>,
  url: URL,
): void {
  for (const name of used) {
    const hosts = secrets.get(name)?.hosts;
    if (hosts && !hosts.some((g) => hostMatches(g, url.hostname))) {
      throw blocked(url, `secret ${name} may only be sent to ${hosts.join(', ')}`);
    }
  }
}
