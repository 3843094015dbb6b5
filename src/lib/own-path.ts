/**
 * The value at a dotted path (given as its keys), read through own properties only: an
 * inherited name (`constructor`, `__proto__`, anything on Object.prototype) is not a step of a
 * customer's data. undefined when a step is missing or not an object.
 */
export function ownPath(root: unknown, keys: readonly string[]): unknown {
  let cur = root;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
