/**
 * INVOKE_* variables that no setting reads: a typo (INVOKE_CONCURENCY=5) would otherwise be
 * ignored in silence and the default used. Each is reported with the nearest known name.
 */
import { closest, distance } from 'fastest-levenshtein';
import { ConfigError, settings } from '../config.js';

/** Families read by prefix (config.ts loadSecrets; contract v1.1 section 6.2 credentials). */
const FAMILIES = ['INVOKE_SECRET_', 'INVOKE_CREDENTIAL_'];
const KNOWN = Object.keys(settings);
/** Edits beyond this are a different name, not a typo: no suggestion. */
const MAX_EDITS = 3;

export interface UnknownVariable {
  name: string;
  suggestion: string | undefined;
}

export function unknownVariables(env: NodeJS.ProcessEnv): UnknownVariable[] {
  return Object.keys(env)
    .filter(
      (name) =>
        name.startsWith('INVOKE_') &&
        !KNOWN.includes(name) &&
        !FAMILIES.some((f) => name.startsWith(f)),
    )
    .sort()
    .map((name) => {
      const near = closest(name, KNOWN);
      return { name, suggestion: distance(name, near) <= MAX_EDITS ? near : undefined };
    });
}

export function describeUnknown(v: UnknownVariable): string {
  const hint = v.suggestion
    ? `did you mean ${v.suggestion}?`
    : 'see docs/configuration.md for the settings';
  return `${v.name} is not a known setting and is ignored: ${hint}`;
}

/** Under INVOKE_STRICT_CONFIG an unknown name stops the start like a bad value does. */
export function checkUnknownVariables(env: NodeJS.ProcessEnv, strict: boolean): UnknownVariable[] {
  const unknown = unknownVariables(env);
  if (strict && unknown.length > 0)
    throw new ConfigError(`${unknown.map(describeUnknown).join('; ')} (INVOKE_STRICT_CONFIG=true)`);
  return unknown;
}
