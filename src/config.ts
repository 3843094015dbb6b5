/**
 * Configuration: the only reader of process.env.
 *
 * Every variable is declared once in `settings` with its default and a sentence of
 * documentation; docs/configuration.md is generated from this table (scripts/gen-config-docs.ts)
 * and a test keeps the two in sync. Values are validated with zod at start: a bad value stops
 * the process with a message naming the variable (contract section 5).
 */
import { z } from 'zod';
import { credentialSchema, type Credential } from './contract/credential.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => ['true', '1', 'yes'].includes(v));
/** base64 of exactly 32 bytes: an AES-256 key (contract v1.1 section 6.1). */
const key32 = z
  .string()
  .refine((v) => isKey32(v), 'must be base64 of 32 random bytes (openssl rand -base64 32)');
const isKey32 = (v: string) =>
  /^[A-Za-z0-9+/]{43}=$/.test(v.trim()) && Buffer.from(v.trim(), 'base64').length === 32;
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

type Setting<S extends z.ZodType, D extends string | undefined = string | undefined> = {
  schema: S;
  default: D;
  doc: string;
};
const setting = <S extends z.ZodType, D extends string | undefined>(
  schema: S,
  def: D,
  doc: string,
): Setting<S, D> => ({ schema, default: def, doc });

/** Name -> schema, default (as the env string) and doc. Names in contract section 5 are fixed. */
export const settings = {
  REDIS_URL: setting(
    z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
    'redis://127.0.0.1:6379',
    'Redis for the queue, the context store and the continuation stream.',
  ),
  REDIS_CLUSTER_NODES: setting(
    list,
    undefined,
    'Comma-separated host:port seed nodes: connect to a Redis Cluster instead of REDIS_URL (whose user, password and rediss:// still apply). Use a hash-tagged BULLMQ_PREFIX such as {bull}.',
  ),
  REDIS_SENTINELS: setting(
    list,
    undefined,
    "Comma-separated host:port Sentinel nodes; REDIS_SENTINEL_NAME names the master group. The master's user, password and rediss:// come from REDIS_URL; the Sentinels' own from REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD and REDIS_SENTINEL_TLS.",
  ),
  REDIS_SENTINEL_NAME: setting(
    z.string().min(1),
    'mymaster',
    'Sentinel master group name (used only with REDIS_SENTINELS).',
  ),
  REDIS_SENTINEL_USERNAME: setting(
    z.string().min(1),
    undefined,
    "ACL user of the Sentinels themselves (with REDIS_SENTINEL_PASSWORD), when their users are not the master's.",
  ),
  REDIS_SENTINEL_PASSWORD: setting(
    z.string().min(1),
    undefined,
    "Password of the Sentinels themselves (their requirepass), when they have one; often the master's password, which still comes from REDIS_URL. Never logged.",
  ),
  REDIS_SENTINEL_TLS: setting(
    bool,
    'false',
    'Talk to the Sentinels over TLS. The master is reached over TLS when REDIS_URL is rediss://; trust a private CA with NODE_EXTRA_CA_CERTS.',
  ),
  INVOKE_QUEUE: setting(
    z.string().regex(/^[^:]+$/, 'must not contain ":"'),
    'invoke-api',
    'BullMQ queue name.',
  ),
  BULLMQ_PREFIX: setting(
    z.string().min(1),
    'bull',
    'BullMQ key prefix; hash-tag it ({bull}) on Redis Cluster.',
  ),
  INVOKE_CONCURRENCY: setting(int(1, 5000), '100', 'Calls in flight per worker process.'),
  INVOKE_WORKER_ENABLED: setting(bool, 'true', 'Run the worker in this process.'),
  INVOKE_API_ENABLED: setting(
    bool,
    'true',
    'Run the operator/producer HTTP server in this process.',
  ),
  PORT: setting(
    int(0, 65535),
    '8080',
    'Port of the HTTP server (API, dashboard, metrics, health).',
  ),
  INVOKE_API_HOST: setting(
    z.string().min(1),
    '127.0.0.1',
    'Address the HTTP server binds to. Anything but loopback requires INVOKE_API_TOKEN.',
  ),
  INVOKE_API_TOKEN: setting(
    z.string().min(16, 'must be at least 16 characters'),
    undefined,
    'Bearer token for the HTTP API, dashboard (basic auth password) and metrics.',
  ),
  INVOKE_API_BODY_LIMIT_BYTES: setting(
    int(1024),
    String(5 * 1024 * 1024),
    'Largest request body the HTTP API accepts (413 above).',
  ),
  INVOKE_METRICS_PUBLIC: setting(
    bool,
    'false',
    'Serve /metrics without the token (for a scraper on a private network).',
  ),
  INVOKE_ALLOW_PRIVATE: setting(
    list,
    '',
    'Comma-separated CIDRs and host names exempt from the private-address block, e.g. 127.0.0.1/32 for tests.',
  ),
  INVOKE_ALLOW_HOSTS: setting(
    list,
    '',
    'When set, the only destination hosts allowed (globs such as *.partner.com).',
  ),
  INVOKE_DENY_PORTS: setting(
    list.transform((ports) => ports.map(Number)).pipe(z.array(z.number().int().min(1).max(65535))),
    '',
    'Comma-separated destination ports that are refused (URL_BLOCKED).',
  ),
  INVOKE_MAX_RESPONSE_BYTES: setting(
    int(1),
    String(1024 * 1024),
    'Largest response body read (after decompression); larger is RESPONSE_TOO_LARGE.',
  ),
  INVOKE_MAX_ERROR_BODY_BYTES: setting(
    int(0),
    '4096',
    'How much of a non-2xx body is kept in the envelope (truncated beyond).',
  ),
  INVOKE_MAX_REQUEST_BYTES: setting(
    int(1),
    String(256 * 1024),
    'Largest rendered request body sent.',
  ),
  INVOKE_TEMPLATE_BUDGET_MS: setting(
    int(1, 10000),
    '50',
    "Render time a job's templates may take in all (URL, headers, query, body); over it the step fails with TEMPLATE_ERROR. Renders run on the event loop, so this is also the longest a template can hold it.",
  ),
  INVOKE_ALLOW_LITERAL_CREDENTIALS: setting(
    bool,
    'false',
    'Let the HTTP API accept literal values in credential headers (Authorization, Cookie, X-Api-Key, ...: docs/security.md) instead of {{ secrets.NAME }}; for internal test partners only.',
  ),
  INVOKE_MAX_HEADER_BYTES: setting(int(1024), '16384', 'Largest response header block accepted.'),
  INVOKE_DEFAULT_TIMEOUT_MS: setting(
    int(100, 60000),
    '10000',
    'Whole-request timeout when the step sets no request.timeoutMs.',
  ),
  INVOKE_CONNECT_TIMEOUT_MS: setting(int(50, 60000), '3000', 'TCP/TLS connect timeout.'),
  INVOKE_RETRY_AFTER_MAX_MS: setting(
    int(0),
    '300000',
    'Cap on a Retry-After delay honoured for 429/503.',
  ),
  INVOKE_BACKOFF_MAX_MS: setting(
    int(0),
    '600000',
    'Cap on the delay of the "invoke" backoff type.',
  ),
  INVOKE_USER_AGENT: setting(
    z.string().min(1),
    'invoke-api-worker/0.1',
    'User-Agent sent upstream (a step may override it).',
  ),
  INVOKE_CTX_PREFIX: setting(
    z.string().min(1),
    'journey:ctx',
    'Prefix of the context hash; the key is <prefix>:{<runId>}.',
  ),
  INVOKE_CTX_TTL_SECONDS: setting(
    int(1),
    String(30 * 24 * 3600),
    "TTL of a run's context hash, refreshed on every write.",
  ),
  INVOKE_EVENTS_STREAM: setting(
    z.string().min(1),
    'journey:continuations',
    'Stream that receives continuation events.',
  ),
  INVOKE_EVENTS_MAXLEN: setting(
    int(1000),
    '1000000',
    'Approximate MAXLEN cap of the continuation stream.',
  ),
  INVOKE_ATTEMPT_RECORDS: setting(
    int(0, 1000),
    '20',
    'Per-attempt records (request, status, error, response start) kept with each job: the last N, removed with the job; 0 keeps none.',
  ),
  INVOKE_ATTEMPT_BODY_BYTES: setting(
    int(0, 1024 * 1024),
    '2048',
    'How much of each response body an attempt record keeps (0 keeps none).',
  ),
  INVOKE_OPS_STREAM: setting(
    z.string().min(1),
    'invoke:ops',
    'Stream of operations events (breaker.opened, job.exhausted, ...; docs/operations.md).',
  ),
  INVOKE_OPS_MAXLEN: setting(
    int(100),
    '100000',
    'Approximate MAXLEN cap of the operations stream.',
  ),
  INVOKE_OPS_DEDUP_SECONDS: setting(
    int(0),
    '300',
    'An operations event with the same type and subject is emitted at most once in this window (0: never deduplicated).',
  ),
  INVOKE_OPS_WEBHOOK_URL: setting(
    z.url({ protocol: /^https?$/ }),
    undefined,
    'Also POST each operations event here (JSON, signed with INVOKE_OPS_WEBHOOK_SECRET, through the egress policy).',
  ),
  INVOKE_OPS_WEBHOOK_SECRET: setting(
    z.string().min(16, 'must be at least 16 characters'),
    undefined,
    'HMAC-SHA256 key of the X-Invoke-Signature header on operations webhooks.',
  ),
  INVOKE_LOCK_DURATION_MS: setting(
    int(1000),
    '15000',
    "BullMQ job lock; a crashed worker's jobs are recovered after about this plus the stalled interval.",
  ),
  INVOKE_STALLED_INTERVAL_MS: setting(int(500), '5000', 'How often BullMQ looks for stalled jobs.'),
  INVOKE_SHUTDOWN_TIMEOUT_MS: setting(
    int(0),
    '25000',
    'Longest wait for in-flight calls on SIGTERM before exiting anyway.',
  ),
  INVOKE_REDIS_STARTUP_GRACE_MS: setting(
    int(0),
    '30000',
    'Exit non-zero if Redis is still unreachable this long after start.',
  ),
  INVOKE_RETAIN_COMPLETED_SECONDS: setting(
    int(0),
    '86400',
    'Keep completed jobs this long (and at most INVOKE_RETAIN_COMPLETED_COUNT).',
  ),
  INVOKE_RETAIN_COMPLETED_COUNT: setting(int(0), '10000', 'Keep at most this many completed jobs.'),
  INVOKE_RETAIN_FAILED_SECONDS: setting(
    int(0),
    String(14 * 86400),
    'Keep failed jobs this long (held jobs wait here for an operator).',
  ),
  INVOKE_RETAIN_FAILED_COUNT: setting(int(0), '100000', 'Keep at most this many failed jobs.'),
  INVOKE_DESTINATIONS: setting(
    z.string(),
    '',
    'Per-host rate limits, concurrency caps and breakers: JSON, or a path to a JSON file.',
  ),
  INVOKE_SECRETS_KEY: setting(
    key32,
    undefined,
    'Key (base64 of 32 bytes) that encrypts tenant secrets, credentials and cached tokens in Redis (AES-256-GCM). Required to use tenant secrets or credentials.',
  ),
  INVOKE_VAULT_PREFIX: setting(
    z.string().min(1),
    'invoke:vault',
    'Redis key prefix of the encrypted tenant secrets and credentials (src/vault).',
  ),
  INVOKE_SECRETS_OLD_KEYS: setting(
    list.pipe(z.array(key32)),
    '',
    'Comma-separated previous keys, still accepted for decryption during a key rotation (invoke-api secrets rotate-key).',
  ),
  INVOKE_SECRETS_CACHE_MS: setting(
    int(0, 300000),
    '10000',
    "How long a worker keeps a tenant's decrypted secrets before reading them again: a changed or deleted tenant secret takes effect in every worker within this time.",
  ),
  INVOKE_TENANTS: setting(
    z.string(),
    '',
    'Per-tenant fair-share weight, maxConcurrent and ratePerSecond: JSON, or a path to a JSON file.',
  ),
  INVOKE_FAIR_SHARE: setting(
    bool,
    'true',
    'Enqueue through the fair index (docs/fair-share.md): capacity shared between tenants and journeys with waiting work. false: the HTTP API adds straight to the FIFO (workers still drain the index).',
  ),
  INVOKE_PUBLIC_URL: setting(
    z.url({ protocol: /^https?$/ }),
    undefined,
    'Public base URL of this service for partner callbacks (callback.url = <this>/v1/callbacks/<token>).',
  ),
  INVOKE_AUTH_TOKEN_TTL_SECONDS: setting(
    int(10, 86400),
    '300',
    'How long an OAuth2 access token is kept when the token endpoint gives no expires_in (with expires_in it is kept until shortly before it).',
  ),
  INVOKE_AUTH_TOKEN_TIMEOUT_MS: setting(
    int(100, 60000),
    '10000',
    'Whole-request timeout of a token request (OAuth2 client credentials); other workers wait this long for it.',
  ),
  INVOKE_CALLBACK_KEY: setting(
    key32,
    undefined,
    'Key (base64 of 32 bytes) that seals callback tokens (wait.callback). Default: derived from INVOKE_SECRETS_KEY; one of the two is required for steps with wait.',
  ),
  INVOKE_CALLBACK_BODY_LIMIT_BYTES: setting(
    int(1024),
    String(256 * 1024),
    'Largest callback body POST /v1/callbacks/{token} accepts (413 above).',
  ),
  INVOKE_CALLBACK_RATE_PER_MINUTE: setting(
    int(1),
    '600',
    'Callback requests accepted per client address per minute (429 above).',
  ),
  INVOKE_CALLBACK_MIN_REPLICAS: setting(
    int(0, 100),
    '0',
    "Replicas that must acknowledge a callback's completion (Redis WAIT, on a connection of the route's own) before POST /v1/callbacks/{token} answers 202 or 200. When fewer acknowledge within INVOKE_CALLBACK_REPLICA_TIMEOUT_MS the route answers 503 with Retry-After; the completion stays on the master and the partner's retry answers 200 once a replica has it. 0: no WAIT (a 202 means the completion is on the master). Not with REDIS_CLUSTER_NODES.",
  ),
  INVOKE_CALLBACK_REPLICA_TIMEOUT_MS: setting(
    int(10, 5000),
    '1000',
    'How long a callback waits for INVOKE_CALLBACK_MIN_REPLICAS replicas (the WAIT timeout) before answering 503. A callback that arrives while a WAIT is in flight joins the next one, so it can wait up to about twice this.',
  ),
  INVOKE_CALLBACK_SWEEP_MS: setting(
    int(100, 60000),
    '1000',
    'How often each worker looks for waiting steps past their deadline (CALLBACK_TIMEOUT).',
  ),
  INVOKE_STRICT_CONFIG: setting(
    bool,
    'false',
    'Refuse to start when an INVOKE_* variable is not a known setting (otherwise a warning with the nearest known name).',
  ),
  INVOKE_CACHE_PREFIX: setting(
    z.string().min(1),
    '{invoke:cache}',
    'Key prefix of the step response cache (docs/outcomes.md); keep a hash tag in it: on Redis Cluster the whole cache lives in that one slot.',
  ),
  INVOKE_CACHE_MAX_BYTES: setting(
    int(1024),
    String(64 * 1024 * 1024),
    'Memory budget of the response cache: total bytes of cached results; the entries closest to expiry are evicted to make room.',
  ),
  INVOKE_CACHE_MAX_ENTRIES: setting(
    int(1),
    '100000',
    'Most entries the response cache holds (bounds the per-entry overhead of small results).',
  ),
  INVOKE_CACHE_MAX_ENTRY_BYTES: setting(
    int(64),
    String(256 * 1024),
    'A result larger than this (as stored JSON) is not cached.',
  ),
  LOG_LEVEL: setting(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'info',
    'pino log level.',
  ),
} as const;

type Settings = typeof settings;
export type RawConfig = {
  [K in keyof Settings]: Settings[K]['default'] extends string
    ? z.output<Settings[K]['schema']>
    : z.output<Settings[K]['schema']> | undefined;
};

/**
 * A secret usable in templates as secrets.NAME, optionally bound to destination host globs.
 * `tenants` (INVOKE_SECRET_<NAME>_TENANTS) lists the tenants that may use a platform secret
 * ('*' = all); jobs without tenantId may always use it.
 */
export interface Secret {
  name: string;
  value: string;
  hosts: string[] | undefined;
  tenants?: string[] | undefined;
}

/**
 * A platform credential (INVOKE_CREDENTIAL_<NAME>, contract v1.1 section 6.2): usable by jobs
 * without tenantId, and by the tenants INVOKE_CREDENTIAL_<NAME>_TENANTS lists ('*' = all).
 */
export interface PlatformCredential {
  name: string;
  credential: Credential;
  tenants: string[] | undefined;
}

export type Config = Readonly<
  RawConfig & {
    secrets: ReadonlyMap<string, Secret>;
    credentials: ReadonlyMap<string, PlatformCredential>;
  }
>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const BINDINGS = ['_HOSTS', '_TENANTS'] as const;
const splitList = (v: string | undefined) =>
  v
    ?.split(',')
    .map((h) => h.trim())
    .filter(Boolean);

/**
 * Reads INVOKE_SECRET_<NAME>, INVOKE_SECRET_<NAME>_HOSTS and INVOKE_SECRET_<NAME>_TENANTS
 * (a binding wins when <NAME> exists too).
 */
export function loadSecrets(env: NodeJS.ProcessEnv): Map<string, Secret> {
  const raw = new Map<string, string>();
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('INVOKE_SECRET_') && value !== undefined)
      raw.set(key.slice('INVOKE_SECRET_'.length), value);
  }
  const isBinding = (name: string) =>
    BINDINGS.some((b) => name.endsWith(b) && raw.has(name.slice(0, -b.length)));
  const secrets = new Map<string, Secret>();
  for (const [name, value] of raw) {
    if (isBinding(name)) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new ConfigError(
        `INVOKE_SECRET_${name}: secret names must match [A-Za-z_][A-Za-z0-9_]*`,
      );
    if (value === '') throw new ConfigError(`INVOKE_SECRET_${name}: must not be empty`);
    const hosts = splitList(raw.get(`${name}_HOSTS`))?.map((h) => h.toLowerCase());
    const tenants = splitList(raw.get(`${name}_TENANTS`));
    secrets.set(name, { name, value, hosts, tenants });
  }
  return secrets;
}

const CREDENTIAL_PREFIX = 'INVOKE_CREDENTIAL_';

/**
 * Reads INVOKE_CREDENTIAL_<NAME> (JSON, contract v1.1 section 6.2) and
 * INVOKE_CREDENTIAL_<NAME>_TENANTS. Errors name the variable and the field, never a value.
 */
export function loadCredentials(
  env: NodeJS.ProcessEnv,
  secretsKey: string | undefined,
): Map<string, PlatformCredential> {
  const raw = new Map<string, string>();
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(CREDENTIAL_PREFIX) && value !== undefined)
      raw.set(key.slice(CREDENTIAL_PREFIX.length), value);
  }
  const out = new Map<string, PlatformCredential>();
  for (const [name, value] of raw) {
    if (name.endsWith('_TENANTS') && raw.has(name.slice(0, -'_TENANTS'.length))) continue;
    const variable = `${CREDENTIAL_PREFIX}${name}`;
    if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(name))
      throw new ConfigError(
        `${variable}: credential names must match ^[A-Z][A-Z0-9_]{0,63}$ (as request.auth.credential)`,
      );
    const credential = parseCredential(variable, value);
    // Its access tokens are cached in Redis, always encrypted: no key, no cache, no credential.
    if (credential.type === 'oauth2_client_credentials' && !secretsKey)
      throw new ConfigError(
        `${variable}: an oauth2_client_credentials credential needs INVOKE_SECRETS_KEY (its access tokens are kept encrypted in Redis)`,
      );
    out.set(name, { name, credential, tenants: splitList(raw.get(`${name}_TENANTS`)) });
  }
  return out;
}

function parseCredential(variable: string, value: string): Credential {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new ConfigError(
      `${variable}: must be a JSON object such as {"type":"basic","hosts":["api.partner.com"],"username":"...","password":"..."}`,
    );
  }
  const parsed = credentialSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(credential)'}: ${i.message}`)
      .join('; ');
    throw new ConfigError(`${variable}: ${why}`);
  }
  return parsed.data;
}

/** Settings whose value is a credential: never echoed in a configuration error. */
const HIDDEN = new Set([
  'INVOKE_API_TOKEN',
  'INVOKE_SECRETS_KEY',
  'INVOKE_SECRETS_OLD_KEYS',
  'INVOKE_CALLBACK_KEY',
]);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(settings) as [string, Setting<z.ZodType>][]) {
    const given = env[name];
    const value = given === undefined || given === '' ? s.default : given;
    if (value === undefined) continue;
    const parsed = s.schema.safeParse(value);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      throw new ConfigError(
        `${name}: ${why} (got ${JSON.stringify(HIDDEN.has(name) ? '<hidden>' : value)})`,
      );
    }
    out[name] = parsed.data;
  }
  // WAIT on a Cluster counts one shard's replicas, while a callback writes to several slots.
  if (out.INVOKE_CALLBACK_MIN_REPLICAS && (out.REDIS_CLUSTER_NODES as string[] | undefined)?.length)
    throw new ConfigError(
      'INVOKE_CALLBACK_MIN_REPLICAS: not supported with REDIS_CLUSTER_NODES (WAIT counts the replicas of one shard); set it to 0',
    );
  const credentials = loadCredentials(env, out.INVOKE_SECRETS_KEY as string | undefined);
  return Object.freeze({ ...(out as RawConfig), secrets: loadSecrets(env), credentials });
}
