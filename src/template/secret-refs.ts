/**
 * Secrets as references (docs/security.md, Templates): the template engine never sees a
 * secret's value. `secrets.NAME` renders to a reference, `__secret_<nonce>_<n>__`, made of
 * characters no encoding changes (so it survives URL-, form- and JSON-encoding as it is), with
 * a random nonce per render that a template cannot guess. After rendering:
 *
 * - check(): a reference in the URL's host, or one a filter changed (upcase, slice, ...), is a
 *   TEMPLATE_ERROR naming the field; the value never went through the filter, so nothing leaks;
 * - fill(): the HTTP client swaps each reference for the value, encoded for where it sits,
 *   only in the request it is about to send, after the secret's host binding was checked.
 *
 * Everything else (the processor's URL, log lines, errors, the dry run's request) holds only
 * references. Other value sources (tenant secrets, credentials) add theirs with ref().
 */
import { randomBytes } from 'node:crypto';
import { InvokeError } from '../contract/errors.js';
import { REDACTED } from '../lib/scrub.js';

export interface RequestParts {
  url: string;
  headers: Record<string, string>;
  body: { text: string; contentType: string } | undefined;
}

/** What HTTP/1.1 carries in a header value: visible ASCII, space and tab (RFC 9110 5.5). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Every reference of any render: compiled once for the process. Each match is checked against
 * the render's own nonce (a regex per render cost a compile per job: docs/benchmarks.md).
 */
const EXACT = /__secret_([0-9a-f]{16})_(\d+)__/g;

/** Random bytes drawn in blocks: one system call per 512 nonces instead of one per render. */
const NONCE_BYTES = 8;
let pool = Buffer.alloc(0);
let poolAt = 0;
function freshNonce(): string {
  if (poolAt + NONCE_BYTES > pool.length) {
    pool = randomBytes(NONCE_BYTES * 512);
    poolAt = 0;
  }
  poolAt += NONCE_BYTES;
  return pool.toString('hex', poolAt - NONCE_BYTES, poolAt);
}

export class SecretRefs {
  // Made on the first reference: most renders read no secret.
  private nonceValue: string | undefined;
  private readonly names: string[] = [];
  private readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  /** Names of the secrets whose reference the render read. */
  readonly used = new Set<string>();

  private get nonce(): string {
    return (this.nonceValue ??= freshNonce());
  }

  /** Text with this render's intact references rewritten (others left as they are). */
  private rewrite(text: string, to: (i: number) => string): string {
    return text.replace(EXACT, (m, nonce: string, i: string) =>
      nonce === this.nonce ? to(Number(i)) : m,
    );
  }

  /**
   * Where this render's nonce appears in any spelling (a filter may have changed the case or cut
   * the reference): the secret's index when the reference around it can still be read, -1
   * when only the nonce is there; undefined when it is absent.
   */
  private trace(text: string): number | undefined {
    const lower = text.toLowerCase();
    const at = lower.indexOf(this.nonce);
    if (at < 0) return undefined;
    const i = /^_(\d+)/.exec(lower.slice(at + this.nonce.length, at + this.nonce.length + 12));
    return lower.slice(Math.max(0, at - 7), at) === 'secret_' && i ? Number(i[1]) : -1;
  }

  /** The reference for a value (the same one each time for a name). */
  ref(name: string, value: string): string {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.push(name) - 1;
      this.values.push(value);
      this.index.set(name, i);
    }
    this.used.add(name);
    return `__secret_${this.nonce}_${i}__`;
  }

  get size(): number {
    return this.names.length;
  }

  /** Refuses references in the host and references changed by filters; names the field. */
  check(req: RequestParts): void {
    if (this.size === 0) return;
    let host = '';
    try {
      host = new URL(req.url).host;
    } catch {
      // The renderer has already refused a URL that does not parse.
    }
    const inHost = this.trace(host);
    if (inHost !== undefined)
      throw new InvokeError(
        'TEMPLATE_ERROR',
        `request.url: ${this.which(inHost)} may not be part of the host (secrets may only travel in the path, query, headers or body)`,
      );
    this.intact(req.url, 'request.url');
    for (const [name, value] of Object.entries(req.headers))
      this.intact(value, `request.headers.${name}`);
    if (req.body) this.intact(req.body.text, 'request.body');
  }

  /** The request with each reference replaced by its value, encoded for its place. */
  fill(req: RequestParts): RequestParts {
    if (this.size === 0) return req;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      headers[name] = this.replace(value, (v) => v);
      if (!HEADER_VALUE.test(headers[name]!)) {
        throw new InvokeError(
          'TEMPLATE_ERROR',
          `request.headers.${name}: a secret's value holds characters a header cannot carry (only visible ASCII, space and tab)`,
        );
      }
    }
    const body = req.body && {
      contentType: req.body.contentType,
      text: this.replace(req.body.text, bodyEncoding(req.body.contentType)),
    };
    return { url: this.replace(req.url, encodeURIComponent), headers, body };
  }

  /** Text with references shown as [REDACTED] (the dry run's request). */
  show(text: string): string {
    return this.size === 0 ? text : this.rewrite(text, () => REDACTED);
  }

  private replace(text: string, encode: (v: string) => string): string {
    if (!text.includes(this.nonce)) return text;
    return this.rewrite(text, (i) => encode(this.values[i] ?? ''));
  }

  private intact(text: string, where: string): void {
    // A nonce left once the intact references are taken out was changed by a filter.
    const changed = this.trace(this.rewrite(text, () => ''));
    if (changed !== undefined) {
      throw new InvokeError(
        'TEMPLATE_ERROR',
        `${where}: ${this.which(changed)} was passed through a filter; secrets are inserted after rendering, exactly as stored (store the value in the form the partner needs)`,
      );
    }
  }

  private which(i: number): string {
    const name = i >= 0 ? this.names[i] : undefined;
    return name ? `secrets.${name}` : 'a secret';
  }
}

function bodyEncoding(contentType: string): (v: string) => string {
  if (/json/i.test(contentType)) return (v) => JSON.stringify(v).slice(1, -1);
  if (/x-www-form-urlencoded/i.test(contentType))
    return (v) => new URLSearchParams({ v }).toString().slice(2);
  return (v) => v;
}
