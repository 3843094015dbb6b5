/**
 * The fair index and its admission into BullMQ's wait list, as Lua so every worker and producer
 * sees one atomic decision (as BullMQ's own promote script does for one job).
 *
 * A job enqueued through the client or the HTTP API is added by BullMQ as a delayed job whose
 * delay is FAIR_DELAY_MS (never due), and its id joins the fair index: a list per
 * (tenant, journey). Admission moves jobs from the index to the wait list, keeping at most
 * `window` jobs there (all workers' slots: one round of calls), so BullMQ's FIFO stays short and the
 * order of service is decided here:
 *
 *   start-time fair queuing (Goyal et al., SIGCOMM 1996), twice: the tenant with the lowest start
 *   tag is served next and its tag grows by 1/weight; inside it, the journey with the lowest tag
 *   (weight 1). A tenant or journey that gets work again starts at the current virtual time, so
 *   idle time is never saved up as credit. Each admission is O(log tenants + log journeys).
 *
 * Keys all start with `<prefix>:<queue>:` like BullMQ's, so a hash-tagged prefix keeps the index
 * and BullMQ's keys in one Cluster slot. Time is the Redis server's (TIME).
 *
 *   KEYS  1 tenants   zset tenant -> start tag (tenants with waiting work, not parked)
 *         2 parked    zset tenant -> ms until which its limit holds it back (held tenants)
 *         3 state     hash vt (virtual time), window, dw (default weight),
 *                         t:<tenant> (tenant's virtual time), p:<tenant> (parked tenant's tag)
 *         4 counts    hash tenant -> jobs in the index
 *         5 weights   hash tenant -> weight (absent: dw)
 *         6-13        BullMQ's delayed, wait, prioritized, pc, meta, active, events, marker
 *   ARGV  1 fair key base (for <base>:j:<tenant> zset journey -> tag, <base>:q:<tenant>:<journey>
 *           list of job ids), 2 job key prefix, 3 most jobs to admit in this call
 */

/** Delay of a job waiting in the fair index: about 139 years, never promoted by BullMQ. */
export const FAIR_DELAY_MS = 2 ** 42;

/** BullMQ's delayed score is (timestamp + delay) * 0x1000: at or above this, it is ours. */
const FAR_SCORE = '2^54';

/** A window used until a worker has registered its slots. */
export const DEFAULT_WINDOW = 25;

const PRELUDE = `local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tenants, parked, state, counts, weights = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local delayed, wait, prio, pc, meta, active, events, marker =
  KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local base, jobPrefix, maxMoves = ARGV[1], ARGV[2], tonumber(ARGV[3])
local FAR = ${FAR_SCORE}
local function jkey(tn) return base .. ':j:' .. tn end
local function qkey(tn, jn) return base .. ':q:' .. tn .. ':' .. jn end
local function vt() return tonumber(rcall('HGET', state, 'vt')) or 0 end

-- Tenants whose hold has ended rejoin at their old tag, or now if that is later.
local function release()
  local due = rcall('ZRANGEBYSCORE', parked, '-inf', now, 'LIMIT', 0, 100)
  if #due == 0 then return end
  local v = vt()
  for _, tn in ipairs(due) do
    rcall('ZREM', parked, tn)
    local tag = tonumber(rcall('HGET', state, 'p:' .. tn)) or v
    rcall('HDEL', state, 'p:' .. tn)
    if rcall('EXISTS', jkey(tn)) == 1 then rcall('ZADD', tenants, math.max(tag, v), tn) end
  end
end

-- BullMQ's promote for one job, only if it still waits in the fair index's far delay: a job
-- removed, promoted by hand or already admitted (index entries are never trusted alone)
-- is skipped, so nothing is ever run twice.
local function toWait(id)
  local score = tonumber(rcall('ZSCORE', delayed, id))
  if not score or score < FAR then return 0 end
  rcall('ZREM', delayed, id)
  local jobKey = jobPrefix .. id
  local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
  if priority == 0 then
    rcall('LPUSH', wait, id)
  else
    rcall('ZADD', prio, priority * 0x100000000 + rcall('INCR', pc) % 0x100000000, id)
  end
  rcall('HSET', jobKey, 'delay', 0)
  rcall('XADD', events, '*', 'event', 'waiting', 'jobId', id, 'prev', 'delayed')
  return 1
end

-- The next job in fair order: nil when the index is empty, else 1 (moved) or 0 (skipped).
local function admitOne()
  local head = rcall('ZRANGE', tenants, 0, 0, 'WITHSCORES')
  if #head == 0 then return nil end
  local tn = head[1]
  local v = math.max(vt(), tonumber(head[2]))
  rcall('HSET', state, 'vt', v)
  local jk = jkey(tn)
  local jh = rcall('ZRANGE', jk, 0, 0, 'WITHSCORES')
  if #jh == 0 then
    rcall('ZREM', tenants, tn)
    rcall('HDEL', state, 't:' .. tn)
    return 0
  end
  local jn = jh[1]
  local tv = math.max(tonumber(rcall('HGET', state, 't:' .. tn)) or 0, tonumber(jh[2]))
  local q = qkey(tn, jn)
  local id = rcall('LPOP', q)
  if rcall('LLEN', q) == 0 then rcall('ZREM', jk, jn) else rcall('ZADD', jk, tv + 1, jn) end
  if rcall('EXISTS', jk) == 0 then
    rcall('ZREM', tenants, tn)
    rcall('HDEL', state, 't:' .. tn)
  else
    local w = tonumber(rcall('HGET', weights, tn)) or tonumber(rcall('HGET', state, 'dw')) or 1
    rcall('ZADD', tenants, v + 1 / w, tn)
    rcall('HSET', state, 't:' .. tn, tv)
  end
  if rcall('HINCRBY', counts, tn, -1) <= 0 then rcall('HDEL', counts, tn) end
  if id then return toWait(id) end
  return 0
end

-- Fills the wait list up to the window; returns {moved, tenants with work in the index}.
local function admit()
  release()
  local window = tonumber(rcall('HGET', state, 'window')) or ${DEFAULT_WINDOW}
  local room = math.min(maxMoves, window - rcall('LLEN', wait) - rcall('ZCARD', prio))
  local moved, steps = 0, 0
  while room > 0 and steps < 2 * maxMoves + 100 do
    local r = admitOne()
    if r == nil then break end
    moved = moved + r
    room = room - r
    steps = steps + 1
  end
  if moved > 0 then
    local m = rcall('HMGET', meta, 'paused', 'concurrency')
    local maxed = m[2] and rcall('LLEN', active) >= tonumber(m[2])
    if not m[1] and not maxed then rcall('ZADD', marker, 0, '0') end
  end
  return {moved, rcall('ZCARD', tenants) + rcall('ZCARD', parked)}
end
`;

/** admit() -> {moved, tenants with waiting work}. */
export const ADMIT = `${PRELUDE}
return admit()`;

/**
 * intake(..., tenant, journey, jobId) after BullMQ's add of the same job in the same MULTI:
 * indexes it once (the job hash's `fair` field marks it), only while it is still in the far
 * delay (a deduplicated add of a job already admitted is not indexed again), then admits.
 */
export const INTAKE = `${PRELUDE}
local tn, jn, id = ARGV[4], ARGV[5], ARGV[6]
local score = tonumber(rcall('ZSCORE', delayed, id))
if score and score >= FAR and rcall('HSETNX', jobPrefix .. id, 'fair', 1) == 1 then
  local jk, q = jkey(tn), qkey(tn, jn)
  if rcall('RPUSH', q, id) == 1 then
    local newTenant = rcall('EXISTS', jk) == 0
    rcall('ZADD', jk, tonumber(rcall('HGET', state, 't:' .. tn)) or 0, jn)
    if newTenant and not rcall('ZSCORE', parked, tn) then rcall('ZADD', tenants, vt(), tn) end
  end
  rcall('HINCRBY', counts, tn, 1)
end
return admit()`;

/**
 * hold(tenant, ms): the tenant's limit has no room for this long; its waiting work leaves the
 * rotation (keeping its tag) until then, so admission does not fill the window with jobs that
 * could only be held back. KEYS 1 tenants, 2 parked, 3 state.
 */
export const HOLD = `local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tn, untilMs = ARGV[1], now + tonumber(ARGV[2])
local cur = tonumber(rcall('ZSCORE', KEYS[2], tn))
if not cur or cur < untilMs then rcall('ZADD', KEYS[2], untilMs, tn) end
local tag = rcall('ZSCORE', KEYS[1], tn)
if tag then
  rcall('HSET', KEYS[3], 'p:' .. tn, tag)
  rcall('ZREM', KEYS[1], tn)
end
return 0`;

/**
 * beat(workerId, slots, ttlMs, fraction): a worker's slots, registered until now + ttlMs
 * (slots 0 = leaving); sets the window to fraction of all live workers' slots.
 * KEYS 1 workers hash (id -> "slots:expiresAt"), 2 state. Returns {slots, window}.
 */
export const BEAT = `local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, slots, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if slots > 0 then rcall('HSET', KEYS[1], id, slots .. ':' .. (now + ttl)) else rcall('HDEL', KEYS[1], id) end
local all = rcall('HGETALL', KEYS[1])
local total = 0
for i = 1, #all, 2 do
  local c, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
  if not c or tonumber(exp) < now then rcall('HDEL', KEYS[1], all[i]) else total = total + tonumber(c) end
end
local window = ${DEFAULT_WINDOW}
if total > 0 then window = math.max(1, math.ceil(total * tonumber(ARGV[4]))) end
rcall('HSET', KEYS[2], 'window', window)
return {total, window}`;
