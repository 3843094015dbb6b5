/**
 * Liquid conditions: the expression of an `{% if %}` tag (contract v1.1 section 6.3), parsed
 * once and evaluated against a scope the caller builds. Used by `expect.success` /
 * `expect.retry` over a response, and reusable by any rule of the same shape (a credential's
 * "token expired" rule reads a response too).
 *
 * Why an expression and not `{% if <cond> %}1{% endif %}`: pasting the text into a template
 * would let `x %}{% for i in (1..99999999) %}` out of the condition. The whole text must parse
 * as one expression (liquidjs stops quietly at a stray `)` or `,`, and accepts operands with
 * no operator between them, so both are checked here).
 *
 * Budget: a condition has no loops or tags, so its time is bounded by its length (2 KiB, the
 * job schema) and by what its ranges and filters allocate: liquidjs's memory limiter fails a
 * `(1..100000000)` or a `join` of one before it allocates. No secrets: the scope holds only
 * what the caller passes (for expect: status, headers and body of the response).
 */
import { Context, Liquid, Tokenizer, TypeGuards, Value, toValueSync, isTruthy } from 'liquidjs';

/** Characters a condition may allocate through ranges and filters (liquidjs memoryLimit). */
export const CONDITION_MEMORY_LIMIT = 1_000_000;

const liquid = new Liquid({
  strictFilters: true,
  // A missing field is nil (falsy), as in an `{% if %}`: `response.body.ok` on a body without
  // `ok` must be false, not an error.
  strictVariables: false,
  ownPropertyOnly: true,
  memoryLimit: CONDITION_MEMORY_LIMIT,
});

/** A condition that failed to parse or to evaluate; `message` has no values, only the text's shape. */
export class ConditionError extends Error {
  override name = 'ConditionError';
}

export interface Condition {
  readonly source: string;
  /** True when the condition holds for `scope`; throws ConditionError (budget, filter error). */
  test(scope: Record<string, unknown>): boolean;
}

/** Parses `source` as one Liquid expression (with filters); throws ConditionError saying why. */
export function compileCondition(source: string): Condition {
  let value: Value;
  try {
    const tokenizer = new Tokenizer(source, liquid.options.operators);
    const token = tokenizer.readFilteredValue();
    tokenizer.skipBlank();
    if (!tokenizer.end())
      throw new ConditionError(
        `unexpected "${source.slice(tokenizer.p, tokenizer.p + 20)}" at column ${tokenizer.p + 1}`,
      );
    if (token.initial.postfix.length === 0) throw new ConditionError('empty condition');
    checkOperands(token.initial.postfix);
    value = new Value(token, liquid);
  } catch (err) {
    throw err instanceof ConditionError ? err : new ConditionError(firstLine(err));
  }
  return {
    source,
    test(scope) {
      const ctx = new Context(scope, liquid.options, { memoryLimit: CONDITION_MEMORY_LIMIT });
      try {
        return isTruthy(toValueSync(value.value(ctx, false)), ctx);
      } catch (err) {
        throw new ConditionError(firstLine(err));
      }
    },
  };
}

/** The postfix must reduce to one value: `a b` (no operator) and `a ==` (one operand) do not. */
function checkOperands(postfix: readonly unknown[]): void {
  let depth = 0;
  for (const token of postfix) {
    if (TypeGuards.isOperatorToken(token)) {
      const unary = token.operator === 'not';
      if (depth < (unary ? 1 : 2))
        throw new ConditionError(`operator "${token.operator}" is missing an operand`);
      if (!unary) depth--;
    } else {
      depth++;
    }
  }
  if (depth !== 1)
    throw new ConditionError(
      'operands without an operator between them (use and, or, ==, !=, <, >, contains)',
    );
}

/** liquidjs messages quote the condition's text, never scope values; keep the first line, no position. */
function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.replace(/, line:\d+, col:\d+/, '');
}

/** Parsed conditions by text, bounded: steps are few, jobs (each validated per attempt) many. */
const CACHE_LIMIT = 2000;
const cache = new Map<string, Condition | ConditionError>();

/** compileCondition with a bounded cache (of failures too): what validation and evaluation use. */
export function conditionFor(source: string): Condition {
  let entry = cache.get(source);
  if (entry === undefined) {
    try {
      entry = compileCondition(source);
    } catch (err) {
      entry = err as ConditionError;
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(source, entry);
  }
  if (entry instanceof ConditionError) throw entry;
  return entry;
}

/** Why `source` is not a condition, or undefined when it is one (for schema refinements). */
export function conditionProblem(source: string): string | undefined {
  try {
    conditionFor(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
