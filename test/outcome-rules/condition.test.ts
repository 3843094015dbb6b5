/** Liquid conditions: parsed whole, evaluated within a memory budget, blind to anything not passed in. */
import { describe, expect, it } from 'vitest';
import { compileCondition, ConditionError } from '../../src/outcome-rules/condition.js';
import { judge } from '../../src/outcome-rules/expect.js';
import { parseJob, InvalidJobError } from '../../src/contract/invalid-job.js';

const res = (status: number, body: unknown) => ({
  status,
  headers: { 'content-type': 'application/json' },
  body,
});
const scope = { response: res(200, { ok: false, status: 'Error', items: [1, 2] }) };

describe('compileCondition', () => {
  it.each([
    ['response.status == 200 and response.body.ok == true', false],
    ['response.body.ok == false', true],
    ['not response.body.ok', true],
    ['response.body.missing.deeper', false],
    ["response.body.status contains 'Err'", true],
    ['response.body.items.size > 1', true],
    ["response.headers['content-type'] contains 'json'", true],
  ])('%s -> %s', (source, want) => {
    expect(compileCondition(source).test(scope)).toBe(want);
  });

  it.each([
    ['response.status ==', /missing an operand/],
    ['response.status 200', /without an operator/],
    ['response.status == 200 %}{% for i in (1..99999999) %}{% endfor %}', /expected "\|"/],
    ['response.status == 200 ) or true', /unexpected "\) or true"/],
    ['response.body | nofilter', /undefined filter: nofilter/],
  ])('refuses %s', (source, why) => {
    expect(() => compileCondition(source)).toThrow(ConditionError);
    expect(() => compileCondition(source)).toThrow(why);
  });

  it('stops a range or filter over its memory budget instead of allocating it', () => {
    for (const source of ['(1..100000000) contains 5', "(1..100000000) | join: ','"]) {
      expect(() => compileCondition(source).test(scope)).toThrow(/memory alloc limit exceeded/);
    }
  });

  it('cannot read secrets or anything else not in its scope', () => {
    const c = compileCondition("secrets.TOKEN == 'sk_live' or env.HOME or process");
    expect(c.test(scope)).toBe(false);
  });
});

describe('judge', () => {
  it('defaults to a 2xx status without rules', () => {
    expect(judge(undefined, res(204, null))).toEqual({ success: true });
    expect(judge(undefined, res(503, null))).toEqual({ success: false, retry: undefined });
  });
  it('applies success, then retry, and names the field a broken condition is in', () => {
    const rules = { success: 'response.body.ok == true', retry: "response.body.error == 'busy'" };
    expect(judge(rules, res(200, { ok: true }))).toEqual({ success: true });
    expect(judge(rules, res(200, { ok: false, error: 'busy' }))).toEqual({
      success: false,
      retry: true,
    });
    expect(judge(rules, res(200, { ok: false }))).toEqual({ success: false, retry: false });
    expect(judge({ retry: '(1..100000000) contains 1' }, res(500, null))).toMatchObject({
      success: false,
      broken: { field: 'expect.retry' },
    });
  });
});

describe('validation', () => {
  const job = (expectRules: object) => ({
    v: 1,
    journeyId: 'j',
    runId: 'r',
    stepId: 's',
    customerId: 'c',
    request: { url: 'https://x.example/' },
    save: { variable: 'v' },
    expect: expectRules,
  });
  it('is INVALID_JOB naming expect.success for a syntax error', () => {
    expect(() => parseJob(job({ success: 'response.status ==' }))).toThrow(InvalidJobError);
    expect(() => parseJob(job({ success: 'response.status ==' }))).toThrow(
      /expect\.success: not a Liquid condition: operator "==" is missing an operand/,
    );
    expect(() => parseJob(job({ retry: 'a b' }))).toThrow(/expect\.retry: not a Liquid condition/);
    expect(parseJob(job({ success: 'response.body.ok' })).expect).toEqual({
      success: 'response.body.ok',
    });
  });
});

describe('cache.key validation', () => {
  it('refuses a key that reads secrets, naming cache.key', () => {
    const job = {
      v: 1,
      journeyId: 'j',
      runId: 'r',
      stepId: 's',
      customerId: 'c',
      request: { url: 'https://x.example/' },
      save: { variable: 'v' },
      cache: { key: '{{ secrets.TOKEN }}-{{ customer.id }}', ttlSeconds: 60 },
    };
    expect(() => parseJob(job)).toThrow(/cache\.key: must not read secrets/);
    expect(
      parseJob({ ...job, cache: { key: '{{ customer.id }}', ttlSeconds: 60 } }).cache?.key,
    ).toBe('{{ customer.id }}');
  });
});
