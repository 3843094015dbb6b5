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
