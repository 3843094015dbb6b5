/**
 * A small OAuth2 authorization server on loopback (RFC 6749 4.4 client credentials) for the
 * auth tests: checks the client's Basic or body authentication, issues fresh random tokens,
 * remembers which are valid, and can be scripted to be slow, down, failing or to rotate the
 * client secret. A partner endpoint beside it accepts only currently valid tokens.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { json, startUpstream, type Recorded, type Upstream } from '../helpers/upstream.js';

export interface TokenServer {
  upstream: Upstream;
  tokenUrl: string;
  partnerUrl: string;
  /** Token requests received (whatever their answer). */
  tokenRequests: () => Recorded[];
  partnerRequests: () => Recorded[];
  issued: string[];
  /** Every token the server considers valid now. */
  valid: Set<string>;
  set(opts: Partial<TokenServerOptions>): void;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  clientId: string;
  clientSecret: string;
  expiresIn: number | undefined;
  delayMs: number;
  /** Token answers wait for this (a test holds the endpoint until its jobs are all waiting). */
  gate: Promise<unknown> | undefined;
  /** Scripted failure answer for token requests: [status, body, headers]. */
  fail: [number, unknown, Record<string, string>?] | undefined;
  /** Date header of token answers (clock skew). */
  date: string | undefined;
  /** The partner refuses every token (revoked everywhere). */
  partnerRefusesAll: boolean;
  /** How the partner refuses a token: 401 invalid_token, or 200 {"error":"token_expired"}. */
  refusal: 'status' | 'body';
  /** This many of the first tokens issued are refused by the partner (expired on arrival). */
  issueExpired: number;
}

export async function startTokenServer(
  initial: Partial<TokenServerOptions> = {},
): Promise<TokenServer> {
  const o: TokenServerOptions = {
    clientId: 'client-1',
    clientSecret: 'client-secret-v1',
    expiresIn: 3600,
    delayMs: 0,
    gate: undefined,
    fail: undefined,
    date: undefined,
    partnerRefusesAll: false,
    refusal: 'status',
    issueExpired: 0,
    ...initial,
  };
  const issued: string[] = [];
  const valid = new Set<string>();

  function clientOk(req: Recorded): boolean {
    const basic = /^Basic (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64')
        .toString()
        .split(':')
        .map(decodeURIComponent);
      return id === o.clientId && secret === o.clientSecret;
    }
    const form = new URLSearchParams(req.body);
    return form.get('client_id') === o.clientId && form.get('client_secret') === o.clientSecret;
  }

  async function token(req: Recorded, res: http.ServerResponse) {
    if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
    await o.gate;
    if (o.fail) return json(res, o.fail[0], o.fail[1], o.fail[2]);
    if (new URLSearchParams(req.body).get('grant_type') !== 'client_credentials')
      return json(res, 400, { error: 'unsupported_grant_type' });
    if (!clientOk(req))
      return json(
        res,
        401,
        { error: 'invalid_client' },
        { 'www-authenticate': 'Basic realm="token"' },
      );
    const value = `tok-${issued.length + 1}-${randomBytes(12).toString('hex')}`;
    issued.push(value);
    if (issued.length > o.issueExpired) valid.add(value);
    const answer: Record<string, unknown> = { access_token: value, token_type: 'Bearer' };
    if (o.expiresIn !== undefined) answer.expires_in = o.expiresIn;
    json(res, 200, answer, { 'cache-control': 'no-store', ...(o.date ? { date: o.date } : {}) });
  }

  function partner(req: Recorded, res: http.ServerResponse) {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!bearer || !valid.has(bearer) || o.partnerRefusesAll) {
      if (o.refusal === 'body') return json(res, 200, { error: 'token_expired' });
      return json(
        res,
        401,
        { error: 'invalid_token' },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
    // An echoing partner: the token comes back in the body (the worker must not keep it).
    json(res, 200, { ok: true, points: 42, echo: { authorization: req.headers.authorization } });
  }

  const upstream = await startUpstream((req, res) =>
    req.url.startsWith('/oauth/token') ? token(req, res) : partner(req, res),
  );
  return {
    upstream,
    tokenUrl: `${upstream.url}/oauth/token`,
    partnerUrl: `${upstream.url}/api/loyalty`,
    tokenRequests: () => upstream.requests.filter((r) => r.url.startsWith('/oauth/token')),
    partnerRequests: () => upstream.requests.filter((r) => !r.url.startsWith('/oauth/token')),
    issued,
    valid,
    set: (opts) => Object.assign(o, opts),
    close: () => upstream.close(),
  };
}
