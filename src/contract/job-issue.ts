/** One issue as producers see it: a dotted path and zod's message. */
export interface JobIssue {
  path: string;
  code: string;
  message: string;
}
