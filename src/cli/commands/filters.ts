/** The failure filters shared by failed, retry and discard. */
import type { Command } from 'commander';
import { toFilter, type FilterInput } from '../../ops/failure.js';

export function withFilters(cmd: Command): Command {
  return cmd
    .option('--since <duration>', 'only failures within this long ago (30m, 1h, 7d)')
    .option('--host <host>', 'destination host, e.g. api.partner.com')
    .option('--code <code>', 'error code, e.g. HTTP_STATUS, TIMEOUT, CONNECT_ERROR')
    .option('--status <status>', 'HTTP status of the last attempt, e.g. 503')
    .option('--journey <journeyId>', 'journey id')
    .option('--tenant <tenantId>', 'tenant id (- = jobs without tenantId)')
    .option(
      '--held',
      'only held jobs (onFailure=hold: the customer is waiting, nothing was emitted)',
    );
}

export const filterOf = (o: FilterInput) =>
  toFilter({
    since: o.since,
    host: o.host,
    code: o.code,
    status: o.status,
    journey: o.journey,
    tenant: o.tenant,
    held: o.held,
  });
