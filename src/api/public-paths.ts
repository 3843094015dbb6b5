/** Routes served without the Bearer token: probes, and partner callbacks (their token is the capability). */
export const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);
export const PUBLIC_PREFIX = '/v1/callbacks/';
