/** Types for scripts/mock-partner.mjs (plain JS so the compose demo runs it on a stock node image). */
export declare const MEMBERS: Record<string, { points: number; tier: { name: string } }>;

export interface PartnerCall {
  method: string;
  path: string;
  body: string;
  status: number;
}

export interface MockPartner {
  url: string;
  close(): Promise<void>;
}

export declare function startMockPartner(opts?: {
  host?: string;
  port?: number;
  /** customerIds whose first POST /offers answers 503 */
  flaky?: string[];
  onCall?: (call: PartnerCall) => void;
}): Promise<MockPartner>;
