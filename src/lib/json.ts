/**
 * Text that should be JSON but may not be (a partner's body, a value someone else wrote to the
 * context store, a stored event field): parsed when it is, kept as the text when it is not, so
 * what was there is shown rather than an error.
 */
export function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const isJsonType = (ct: string | undefined) => ct !== undefined && /[/+]json\b/i.test(ct);

/**
 * A response's body bytes as outcome rules and the envelope see them: JSON when the content
 * type says so and it parses; otherwise text. Invalid JSON under a JSON content type is kept as
 * text (docs/errors.md): the step still succeeds on a 2xx, and a later step can see exactly
 * what the partner sent.
 */
export function parseBody(
  bytes: Buffer,
  contentType: string | undefined,
  truncated: boolean,
): unknown {
  if (bytes.length === 0) return null;
  const text = bytes.toString('utf8');
  return !truncated && isJsonType(contentType) ? parseJsonOrText(text) : text;
}
