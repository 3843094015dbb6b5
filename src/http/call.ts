/**
 * Sends a rendered request with got and reads the response within limits.
 *
 * got's own retry and redirect handling are off: BullMQ owns retries (with our backoff), and
 * redirects are followed here, hop by hop, so each hop passes the destination policy and every
 * step-supplied header is dropped when the origin changes (got alone forwards custom API-key
 * headers and POST bodies across origins). HTTP/2 stays off: it bypasses the guarded agent.
 * The body is counted while streaming, after decompression, so a gzip bomb is cut off at
 * INVOKE_MAX_RESPONSE_BYTES instead of filling memory. Every failure leaves as an InvokeError
 * built from the error code alone: got's errors carry headers, body and the full URL.
 */
import got, { type Got } from 'got';
import type dns from 'node:dns';
import { InvokeError } from '../contract/errors.js';
import type { Config, Secret } from '../config.js';
import type { RenderedRequest } from '../template/render.js';
import { addressGuard, checkSecretBindings, checkUrl, createEgressPolicy } from './egress.js';
import { GuardedHttpAgent, GuardedHttpsAgent } from './guarded-agent.js';
import { installFastNativeRequestOptions } from '../patches/got-native-request-options.js';
import { mapNetworkError } from './network-errors.js';

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  /** Raw response headers needed for classification (Retry-After); not stored. */
  retryAfter: string | undefined;
  /** The whole Location header, for following (the kept copy is cut at 1 KiB; signed URLs are longer). */
  location?: string | undefined;
  body: Buffer;
  truncated: boolean;
  /** The body went over the limit (the read was cut off). */
  overLimit: boolean;
  url: URL;
}

export interface SendOptions {
  usedSecrets: Iterable<string>;
  /** The job's secrets view (a tenant's, contract 6.1) for the host bindings; default cfg.secrets. */
  secrets?: ReadonlyMap<string, Secret>;
  /** req.url already parsed by the caller (saves parsing it twice per call). */
  url?: URL;
  /** Overrides DNS for tests (a name resolving to 127.0.0.2). */
  dnsLookup?: typeof dns.lookup;
}

const MAX_HOPS = 5;

/** The whole request's timeout across redirect hops: set when it fires; the hop open then is destroyed. */
interface Deadline {
  expired: boolean;
  stream: { destroy(err?: Error): void } | undefined;
}
/** RFC 9110 15.4: the statuses that redirect (300 and 304 do not, whatever Location says). */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** The response headers worth keeping in the envelope (never request headers). */
export const KEPT_HEADERS = [
  'content-type',
  'content-length',
  'etag',
  'last-modified',
  'location',
  'retry-after',
  'x-request-id',
] as const;
/** Hop-by-hop and framing headers a step may not set (RFC 9110 7.6.1); got sets them itself. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'expect',
]);

export type HttpConfig = Pick<
  Config,
  | 'INVOKE_ALLOW_PRIVATE'
  | 'INVOKE_ALLOW_HOSTS'
  | 'INVOKE_DENY_PORTS'
  | 'INVOKE_MAX_RESPONSE_BYTES'
  | 'INVOKE_MAX_ERROR_BODY_BYTES'
  | 'INVOKE_MAX_REQUEST_BYTES'
  | 'INVOKE_MAX_HEADER_BYTES'
  | 'INVOKE_DEFAULT_TIMEOUT_MS'
  | 'INVOKE_CONNECT_TIMEOUT_MS'
  | 'INVOKE_USER_AGENT'
  | 'INVOKE_CONCURRENCY'
  | 'secrets'
>;

export function createHttpClient(cfg: HttpConfig) {
  installFastNativeRequestOptions();
  const policy = createEgressPolicy(cfg);
  const guard = addressGuard(policy);
  const agentOptions = {
    keepAlive: true,
    maxSockets: Math.max(64, cfg.INVOKE_CONCURRENCY * 2),
    maxFreeSockets: 256,
    scheduling: 'lifo' as const,
    timeout: 60_000,
  };
  const agents = {
    http: new GuardedHttpAgent(guard, agentOptions),
    https: new GuardedHttpsAgent(guard, agentOptions),
  };
  const client: Got = got.extend({
    agent: agents,
    http2: false,
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    decompress: true,
    maxHeaderSize: cfg.INVOKE_MAX_HEADER_BYTES,
    timeout: {
      lookup: cfg.INVOKE_CONNECT_TIMEOUT_MS,
      connect: cfg.INVOKE_CONNECT_TIMEOUT_MS,
      secureConnect: cfg.INVOKE_CONNECT_TIMEOUT_MS,
    },
    https: { rejectUnauthorized: true },
  });

  function prepareHeaders(req: RenderedRequest): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': cfg.INVOKE_USER_AGENT };
    for (const [name, value] of Object.entries(req.headers)) {
      if (FORBIDDEN_HEADERS.has(name))
        throw new InvokeError(
          'INVALID_JOB',
          `request.headers.${name}: this header is set by the worker and may not be overridden`,
        );
      headers[name] = value;
    }
    if (req.body) headers['content-type'] ??= req.body.contentType;
    return headers;
  }

  /** One hop: send, read the body within limits. */
  /** `url` names the hop in results and errors; `wire` (secrets filled in) is what is sent. */
  async function hop(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
    deadline: Deadline,
    opts: SendOptions,
    wire: URL = url,
  ): Promise<HttpResult> {
    let stream: ReturnType<Got['stream']> | undefined;
    try {
      if (deadline.expired)
        throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      stream = client.stream(wire, {
        method: method as 'GET',
        headers,
        body,
        ...(opts.dnsLookup ? { dnsLookup: opts.dnsLookup } : {}),
      });
      deadline.stream = stream;
      const s = stream;
      const response = await new Promise<import('got').Response>((resolve, reject) => {
        s.once('response', resolve);
        s.once('error', reject);
      });
      const { bytes, overLimit } = await readBody(s, cfg.INVOKE_MAX_RESPONSE_BYTES);
      return {
        status: response.statusCode,
        headers: keptHeaders(response.headers),
        retryAfter: header(response.headers['retry-after']),
        location: header(response.headers.location),
        body: bytes,
        truncated: overLimit,
        overLimit,
        url,
      };
    } catch (err) {
      throw mapNetworkError(err, url, deadline.expired);
    } finally {
      deadline.stream = undefined;
      stream?.destroy();
    }
  }

  /** Sends the request, following redirects only when asked (GET/HEAD, at most 5 hops). */
  async function send(req: RenderedRequest, opts: SendOptions): Promise<HttpResult> {
    const url = opts.url ?? new URL(req.url);
    // Secret values go in only now, into what is sent: `url` (for checks, errors and the
    // result) keeps the references. A bound secret's host is checked before it is filled in.
    let wireUrl = url;
    if (req.secretRefs && req.secretRefs.size > 0) {
      checkUrl(policy, url);
      checkSecretBindings(cfg.secrets, opts.usedSecrets, url);
      const filled = req.secretRefs.fill(req);
      req = Object.assign({}, req, filled);
      if (filled.url !== url.href) wireUrl = new URL(filled.url);
    }
    const headers = prepareHeaders(req);
    const body = req.body?.text;
    // got refuses a GET/HEAD body at send time with an error that would read as a network failure.
    if (body !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      throw new InvokeError(
        'INVALID_JOB',
        `request.body: a ${req.method} request may not have a body (use POST, PUT or PATCH)`,
      );
    }
    if (body !== undefined && Buffer.byteLength(body) > cfg.INVOKE_MAX_REQUEST_BYTES) {
      throw new InvokeError(
        'INVALID_JOB',
        `request.body: rendered body is over INVOKE_MAX_REQUEST_BYTES (${cfg.INVOKE_MAX_REQUEST_BYTES})`,
      );
    }
    const timeoutMs = req.timeoutMs ?? cfg.INVOKE_DEFAULT_TIMEOUT_MS;
    // One cleared timer that destroys whichever hop is open: cheaper than an AbortController
    // whose signal got listens to (docs/benchmarks.md, "What profiling removed").
    const deadline: Deadline = { expired: false, stream: undefined };
    const timer = setTimeout(() => {
      deadline.expired = true;
      deadline.stream?.destroy(
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      );
    }, timeoutMs);
    try {
      return await follow(url, headers, body, req, deadline, opts, wireUrl);
    } finally {
      clearTimeout(timer);
    }
  }

  async function follow(
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    req: RenderedRequest,
    deadline: Deadline,
    opts: SendOptions,
    wireUrl: URL,
  ): Promise<HttpResult> {
    let carriesStepData = true;
    for (let hops = 0; ; hops++) {
      checkUrl(policy, url);
      if (carriesStepData) checkSecretBindings(opts.secrets ?? cfg.secrets, opts.usedSecrets, url);
      const result = await hop(
        url,
        req.method,
        headers,
        hops === 0 ? body : undefined,
        deadline,
        opts,
        hops === 0 ? wireUrl : url,
      );
      const location = REDIRECT_STATUSES.has(result.status) ? result.location : undefined;
      const followable =
        req.followRedirects &&
        (req.method === 'GET' || req.method === 'HEAD') &&
        location !== undefined &&
        hops < MAX_HOPS;
      if (!followable) return result;
      const next = resolveLocation(location, url);
      if (next.origin !== url.origin) {
        // Drop every step-supplied header: API keys must not follow a redirect to another origin.
        headers = { 'user-agent': cfg.INVOKE_USER_AGENT };
        carriesStepData = false;
      }
      url = next;
    }
  }

  return {
    send,
    policy,
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

export type HttpClient = ReturnType<typeof createHttpClient>;

function resolveLocation(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch {
    throw new InvokeError('HTTP_STATUS', `${base.hostname}: redirect to an invalid Location`, {
      retryable: false,
    });
  }
}

/**
 * Reads the body up to `limit` bytes (the caller destroys the stream). Plain 'data'/'end'
 * listeners rather than for-await: the async iterator's machinery was a visible share of a
 * call's CPU (scripts/bench). A close before 'end' is a premature close, as the iterator says.
 */
function readBody(
  stream: NodeJS.ReadableStream & { destroyed?: boolean },
  limit: number,
): Promise<{ bytes: Buffer; overLimit: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      chunks.push(chunk.subarray(0, chunk.length - (size - limit)));
      stream.pause();
      resolve({ bytes: Buffer.concat(chunks), overLimit: true });
    });
    let ended = false;
    stream.once('end', () => {
      ended = true;
      resolve({ bytes: Buffer.concat(chunks), overLimit: false });
    });
    stream.once('error', reject);
    // Built only when the close really is premature: the caller destroys every stream after a
    // full read, and an Error (its stack trace) on every call showed in profiles (docs/benchmarks.md).
    stream.once('close', () => {
      if (!ended)
        reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  });
}

const header = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[0] : v;

function keptHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = header(raw[name]);
    if (v !== undefined) out[name] = v.slice(0, 1024);
  }
  return out;
}
