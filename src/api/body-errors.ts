/**
 * Answers to a body that is not JSON, in words a first-time caller can act on: where the JSON
 * breaks (line and column, never an echo of the body, which may carry customer data) and which
 * content type is expected. fastify's own parser does the parsing (with its prototype-poisoning
 * checks); this only explains its refusals.
 */
import { jsonDeeperThan, MAX_JSON_DEPTH } from './guards.js';
import type { FastifyInstance, FastifyError, FastifyRequest } from 'fastify';

export class BodyError extends Error {
  override name = 'BodyError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const AT = / in JSON at position (\d+)/;
const parseError = (text: string): Error | undefined => {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return err as Error;
  }
};

/** True while `text` could still be the start of a valid JSON document. */
function viablePrefix(text: string): boolean {
  const err = parseError(text);
  if (!err || err.message.startsWith('Unexpected end')) return true;
  const at = AT.exec(err.message);
  return at !== null && Number(at[1]) >= text.length;
}

/**
 * Offset of the first character that makes `body` invalid JSON: the longest prefix that is
 * still viable, found by bisection. Only for V8 messages without a position, such as
 * `Unexpected token 'h', "<the body>" is not valid JSON` (which must not be echoed either).
 */
export function jsonErrorOffset(body: string): number {
  let lo = 0;
  let hi = body.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (viablePrefix(body.slice(0, mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** "line 3, column 14" of an offset (both from 1, as editors count). */
export function lineColumn(body: string, offset: number): { line: number; column: number } {
  const before = body.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

export function explainInvalidJson(body: string): BodyError {
  const err = parseError(body);
  if (!err)
    return new BodyError(
      400,
      'INVALID_JSON',
      'body: keys __proto__ and constructor.prototype are refused',
    );
  const at = AT.exec(err.message);
  const offset = at ? Number(at[1]) : jsonErrorOffset(body);
  const { line, column } = lineColumn(body, offset);
  const what =
    offset >= body.length ? 'ends too early' : `has an unexpected ${JSON.stringify(body[offset])}`;
  return new BodyError(
    400,
    'INVALID_JSON',
    `body is not valid JSON: it ${what} at line ${line}, column ${column} (offset ${offset})`,
  );
}

const CURL_HINT = "(curl: -H 'content-type: application/json')";

/** Our answer for fastify's body-parsing errors; undefined for any other error. */
export function explainBodyError(err: FastifyError, req: FastifyRequest): BodyError | undefined {
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const got = req.headers['content-type'];
    const was = got
      ? `content-type ${got.split(';')[0]} is not accepted`
      : 'the request has no content-type';
    return new BodyError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `${was}: send the body as application/json ${CURL_HINT}`,
    );
  }
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return new BodyError(400, 'INVALID_JSON', 'body is empty: send a JSON object');
  return undefined;
}

/**
 * Replaces the JSON parser of `app` with fastify's default one wrapped to explain a syntax error;
 * fastify keeps doing the parsing and its prototype-poisoning checks.
 */
export function explainJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDeeperThan(body as string, MAX_JSON_DEPTH)) {
      return done(
        new BodyError(
          400,
          'JSON_TOO_DEEP',
          `body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep (the limit)`,
        ),
        undefined,
      );
    }
    parse(req, body as string, (err: Error | null, value?: unknown) => {
      if (err && (err as FastifyError).code === 'FST_ERR_CTP_INVALID_JSON_BODY')
        return done(explainInvalidJson(body as string), undefined);
      done(err, value);
    });
  });
}
