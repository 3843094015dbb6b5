/**
 * The Lua that decides every transition of a waiting step, so that a callback, its duplicates,
 * an operator and the timeout sweeper racing each other (from any number of processes) are
 * serialised by Redis: exactly one of them completes the step.
 *
 * The record is a hash per job (keys.ts), its fields kept short because a million of them may
 * wait at once (docs/benchmarks.md):
 *   s   state: c calling (the call is being made; an early callback may be kept in b),
 *       w waiting, d done (completed), t timed out, h held (timed out, onFailure hold),
 *       x discarded, p finishing (Redis Cluster only: decided, writes pending; see DECIDE)
 *   g   generation of the token (an operator's retry bumps it)
 *   ts  BullMQ's timestamp of the job: a later enqueue of the same id is another step
 *   dl  deadline (ms); j the job (JSON); m the call's status, headers, attempts, duration (JSON)
 *   b   the first callback's body (JSON) while it cannot be applied yet; ca when it arrived
 * A waiting step is also a member (its jobId) of one sorted set scored by deadline, which the
 * sweeper reads in O(log n); a step whose early callback is pending is scored "now", a held
 * one +inf.
 */

/**
 * After a successful call. KEYS record, deadlines. ARGV g, ts, dl, j, m, now, expireAt, member.
 * Returns armed | early (a callback is pending: settle it now) | already (this generation was
 * armed before: a re-run after a stall) | stale (an operator retried since this call began).
 */
export const ARM = `
local s = redis.call('HGET', KEYS[1], 's')
if s then
  local rts = tonumber(redis.call('HGET', KEYS[1], 'ts'))
  local rg = tonumber(redis.call('HGET', KEYS[1], 'g'))
  local ts, g = tonumber(ARGV[2]), tonumber(ARGV[1])
  if rts ~= ts then
    if rts > ts then return 'stale' end
    redis.call('DEL', KEYS[1])
    s = false
  elseif rg > g then return 'stale'
  elseif s ~= 'c' then return 'already'
  elseif rg < g then redis.call('HDEL', KEYS[1], 'b', 'ca') end
end
redis.call('HSET', KEYS[1], 's', 'w', 'g', ARGV[1], 'ts', ARGV[2], 'dl', ARGV[3], 'j', ARGV[4], 'm', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
if redis.call('HEXISTS', KEYS[1], 'b') == 1 then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[8])
  return 'early'
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[8])
return 'armed'`;

/**
 * A callback with a valid token. KEYS record. ARGV g, ts, body, at, expireAt (of an early
 * record; also the oldest a token may be), now.
 * Returns stored (kept until the call's result is saved) | waiting (complete it with SETTLE) |
 * repeat | gone (timed out, discarded, superseded or too old) | unknown.
 */
export const CALLBACK = `
local s = redis.call('HGET', KEYS[1], 's')
local g, ts = tonumber(ARGV[1]), tonumber(ARGV[2])
if s then
  local rts = tonumber(redis.call('HGET', KEYS[1], 'ts'))
  if ts < rts then return 'gone' end
  if ts > rts then
    redis.call('DEL', KEYS[1])
    s = false
  end
end
if not s then
  if tonumber(ARGV[6]) > tonumber(ARGV[5]) then return 'gone' end
  redis.call('HSET', KEYS[1], 's', 'c', 'g', ARGV[1], 'ts', ARGV[2], 'b', ARGV[3], 'ca', ARGV[4])
  redis.call('PEXPIREAT', KEYS[1], ARGV[5])
  return 'stored'
end
local rg = tonumber(redis.call('HGET', KEYS[1], 'g'))
if g < rg then return 'gone' end
if g > rg then return 'unknown' end
if s == 'p' then s = redis.call('HGET', KEYS[1], 'pf') end
if s == 'w' then return 'waiting' end
if s == 'd' then return 'repeat' end
if s == 'c' then
  if redis.call('HEXISTS', KEYS[1], 'b') == 1 then return 'repeat' end
  redis.call('HSET', KEYS[1], 'b', ARGV[3], 'ca', ARGV[4])
  return 'stored'
end
return 'gone'`;

/**
 * Finishes a step, compare-and-set: only from one of the allowed states, at the generation the
 * caller read. Saves the envelope and emits the event in the same script (single node), so the
 * first completion is the only one that does. KEYS record, deadlines, context, stream.
 * ARGV 1 g, 2 allowed states, 3 due-by ('' = any time; else the deadline must have passed and no
 * callback be pending), 4 new state, 5 member, 6 context field ('' = save nothing), 7 envelope,
 * 8 context TTL, 9 MAXLEN ('' = emit nothing), 10 record expireAt, 11 keep job ('1': held),
 * 12.. event fields. A held step stays in the deadline set scored +inf (never due; operators list
 * it). Returns ok, or why not: missing | gen | notdue | the current state.
 * The context and stream are written before the record changes: a failing write (a key of the
 * wrong type) aborts the script with the step still waiting, to be tried again.
 */
export const SETTLE = `
local s = redis.call('HGET', KEYS[1], 's')
if not s then return 'missing' end
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 'gen' end
if not string.find(ARGV[2], s, 1, true) then return s end
if ARGV[3] ~= '' then
  if tonumber(redis.call('HGET', KEYS[1], 'dl')) > tonumber(ARGV[3]) then return 'notdue' end
  if redis.call('HEXISTS', KEYS[1], 'b') == 1 then return 'notdue' end
end
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
if ARGV[9] ~= '' then redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', unpack(ARGV, 12)) end
redis.call('HSET', KEYS[1], 's', ARGV[4])
if ARGV[11] ~= '1' then redis.call('HDEL', KEYS[1], 'j', 'm', 'b', 'ca', 'dl') end
redis.call('PEXPIREAT', KEYS[1], ARGV[10])
if ARGV[4] == 'h' then redis.call('ZADD', KEYS[2], 'inf', ARGV[5]) else redis.call('ZREM', KEYS[2], ARGV[5]) end
return 'ok'`;

/**
 * An operator's retry: the step goes back to calling with the next generation, so every token
 * given out so far completes nothing. From c (a retry that did not get as far as enqueueing)
 * the generation stays: running the retry twice is safe. KEYS record, deadlines.
 * ARGV g, member, expireAt. Returns { ok, g, job } or { why }.
 */
export const RETRY = `
local s = redis.call('HGET', KEYS[1], 's')
if not s then return {'missing'} end
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return {'gen'} end
if not string.find('whc', s, 1, true) then return {s} end
local j = redis.call('HGET', KEYS[1], 'j')
if not j then return {'missing'} end
local g = tonumber(ARGV[1])
if s ~= 'c' then g = g + 1 end
redis.call('HSET', KEYS[1], 's', 'c', 'g', g)
redis.call('HDEL', KEYS[1], 'b', 'ca', 'dl', 'm')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
return {'ok', tostring(g), j}`;

/**
 * Redis Cluster, step 1 of 2: the same decision as SETTLE, but the run's context and the stream
 * live in other slots, so the writes cannot be in this script. The step becomes p (finishing,
 * the final state in pf, the writes to make in pw) and is due again in a while: if the process
 * dies before FINALIZE, the sweeper makes the writes again (at least once, same eventId).
 * KEYS record, deadlines. ARGV g, allowed, due-by, new state, member, pending JSON, retry-at.
 */
export const DECIDE = `
local s = redis.call('HGET', KEYS[1], 's')
if not s then return 'missing' end
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[1] then return 'gen' end
if not string.find(ARGV[2], s, 1, true) then
  if s == 'p' then return redis.call('HGET', KEYS[1], 'pf') end
  return s
end
if ARGV[3] ~= '' then
  if tonumber(redis.call('HGET', KEYS[1], 'dl')) > tonumber(ARGV[3]) then return 'notdue' end
  if redis.call('HEXISTS', KEYS[1], 'b') == 1 then return 'notdue' end
end
redis.call('HSET', KEYS[1], 's', 'p', 'pf', ARGV[4], 'pw', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[5])
return 'ok'`;

/** Redis Cluster, step 2 of 2, after the writes. KEYS record, deadlines. ARGV member, keep job, expireAt. */
export const FINALIZE = `
local s = redis.call('HGET', KEYS[1], 's')
if s ~= 'p' then return s or 'missing' end
local f = redis.call('HGET', KEYS[1], 'pf')
redis.call('HSET', KEYS[1], 's', f)
redis.call('HDEL', KEYS[1], 'pf', 'pw')
if ARGV[2] ~= '1' then redis.call('HDEL', KEYS[1], 'j', 'm', 'b', 'ca', 'dl') end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
if f == 'h' then redis.call('ZADD', KEYS[2], 'inf', ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
return 'ok'`;
