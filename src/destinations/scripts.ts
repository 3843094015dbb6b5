/**
 * The shared state of a destination, changed only by these Lua scripts so every worker process
 * sees one atomic decision. All keys of a host carry the host as hash tag
 * (`<prefix>:dest:{<host>}...`), so on Redis Cluster each script touches one slot. Time is the
 * Redis server's (TIME), so workers with skewed clocks still share one schedule.
 *
 *   KEYS[1] hash   pause, state (closed|open|half), until, manual, probe, probeUntil, tat,
 *                  consec, lastb and the failure window buckets c:<n> / f:<n>
 *   KEYS[2] zset   leases: one member per call in flight, score = expiry, so a crashed
 *                  worker's slot frees itself
 *   KEYS[3] zset   reservations: jobId -> the rate slot it was delayed to (GCRA)
 *   KEYS[4] zset   calls made in the last rate window (sliding-window cap on real calls)
 */

/** Shared prelude: server time in ms. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * acquire(leaseId, jobId, rate, burst, maxConcurrent, leaseMs, maxWaitMs, ttlMs)
 * -> {code, waitMs, probe}: 0 go (probe=1 when this call is the half-open probe),
 * 1 paused by Retry-After, 2 breaker open (wait -1 = until closed by hand), 3 probe in flight,
 * 4 all concurrency slots taken, 5 delayed to a reserved rate slot, 6 no rate slot before maxWait.
 * Nothing is written unless the call may go (or a rate slot is reserved).
 */
export const ACQUIRE = `${NOW}
local h, leases, resv, calls = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local leaseId, jobId = ARGV[1], ARGV[2]
local rate, burst, maxc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local leaseMs, maxWait, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local s = redis.call('HMGET', h, 'pause', 'state', 'until', 'probeUntil', 'tat')
local pause = tonumber(s[1]) or 0
if pause > now then return {1, pause - now, 0} end
local probe = 0
local state = s[2] or 'closed'
if state ~= 'closed' then
  local untilMs = tonumber(s[3]) or 0
  if state == 'open' and untilMs < 0 then return {2, -1, 0} end
  if state == 'open' and untilMs > now then return {2, untilMs - now, 0} end
  -- open time is over (or already half-open): exactly one call at a time probes the host
  local probeUntil = tonumber(s[4]) or 0
  if probeUntil > now then return {3, probeUntil - now, 0} end
  probe = 1
end
if maxc > 0 then
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  if redis.call('ZCARD', leases) >= maxc then return {4, 0, 0} end
end
local win, winMax = 0, 0
if rate > 0 then
  local interval = 1000 / rate
  redis.call('ZREMRANGEBYSCORE', resv, '-inf', now - 60000)
  local mine = tonumber(redis.call('ZSCORE', resv, jobId))
  if mine and mine > now + 10 then return {5, math.ceil(mine - now), 0} end
  if not mine then
    -- GCRA schedule: a call conforms when its theoretical arrival time is within the burst;
    -- otherwise it gets the next free slot and is delayed to it (one delay per job, no herd)
    local tat = math.max(tonumber(s[5]) or 0, now) + interval
    local allowAt = tat - burst * interval
    if allowAt > now then
      if allowAt - now > maxWait then return {6, math.ceil(allowAt - now), 0} end
      redis.call('HSET', h, 'tat', tat)
      redis.call('ZADD', resv, allowAt, jobId)
      redis.call('PEXPIRE', resv, ttl)
      redis.call('PEXPIRE', h, ttl)
      return {5, math.ceil(allowAt - now), 0}
    end
    redis.call('HSET', h, 'tat', tat)
  end
  -- The slot is this call's. Jobs come back from the delayed set late and unevenly, so the
  -- calls actually made are also capped over a sliding window (ceil(rate) + burst - 1 per
  -- second; one call per 1/rate s below 1/s): lateness never turns into a burst.
  win = math.max(1000, math.ceil(interval))
  winMax = math.max(1, math.ceil(rate * win / 1000 - 1e-9)) + burst - 1
  redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - win)
  if redis.call('ZCARD', calls) >= winMax then
    local oldest = redis.call('ZRANGE', calls, 0, 0, 'WITHSCORES')
    local wait = math.max(1, tonumber(oldest[2]) + win - now)
    redis.call('ZADD', resv, now + wait, jobId)
    redis.call('PEXPIRE', resv, ttl)
    return {5, math.ceil(wait), 0}
  end
  if mine then redis.call('ZREM', resv, jobId) end
end
if maxc > 0 then
  redis.call('ZADD', leases, now + leaseMs, leaseId)
  redis.call('PEXPIRE', leases, leaseMs * 2)
end
if rate > 0 then
  redis.call('ZADD', calls, now, leaseId)
  redis.call('PEXPIRE', calls, win * 2)
end
if probe == 1 then redis.call('HSET', h, 'state', 'half', 'probe', leaseId, 'probeUntil', now + leaseMs) end
redis.call('PEXPIRE', h, ttl)
return {0, 0, probe}`;

/**
 * release(leaseId, jobId?): frees the concurrency slot as soon as the response is in. With a
 * jobId the permit was never used (the worker gave it up): the call is struck from the rate
 * window, the job keeps a rate slot due now, and a probe permit goes back to the pool.
 */
export const RELEASE = `redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  ${NOW.replace(/\n/g, '\n  ')}
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZADD', KEYS[3], now, ARGV[2])
  if redis.call('HGET', KEYS[1], 'probe') == ARGV[1] then redis.call('HDEL', KEYS[1], 'probe', 'probeUntil') end
end
return 1`;

/**
 * record(leaseId, kind ok|fail|neutral, pauseMs, breakerOn, consecutive, ratio, minCalls,
 * windowMs, openMs, ttlMs, okBefore) -> {state, transition}: transition is 'opened', 'closed'
 * or ''. okBefore = successes made before this call and not recorded yet (the guard sends a
 * healthy host's successes in batches), counted first. Results of calls that started before
 * the breaker opened are ignored; in half-open only the probe's result counts (success closes,
 * failure opens again, neutral frees the probe).
 */
export const RECORD = `${NOW}
local h, leases = KEYS[1], KEYS[2]
local leaseId, kind, pauseMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local on, consecN, ratio = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local minCalls, windowMs, openMs, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZREM', leases, leaseId)
if pauseMs > 0 and now + pauseMs > (tonumber(redis.call('HGET', h, 'pause')) or 0) then
  redis.call('HSET', h, 'pause', now + pauseMs)
  redis.call('PEXPIRE', h, math.max(ttl, pauseMs))
end
local bw = math.max(math.floor(windowMs / 10), 1)
local b = math.floor(now / bw)
local function clearWindow()
  local last = tonumber(redis.call('HGET', h, 'lastb')) or b
  for _, e in ipairs({last, b}) do
    for i = e - 10, e do redis.call('HDEL', h, 'c:' .. i, 'f:' .. i) end
  end
  redis.call('HDEL', h, 'consec', 'lastb')
end
local function open()
  clearWindow()
  redis.call('HSET', h, 'state', 'open', 'until', now + openMs)
  redis.call('HDEL', h, 'probe', 'probeUntil', 'manual')
  redis.call('PEXPIRE', h, math.max(ttl, openMs))
  return {'open', 'opened'}
end
local st = redis.call('HMGET', h, 'state', 'probe')
local state = st[1] or 'closed'
if state == 'open' then return {'open', ''} end
if state == 'half' then
  if st[2] ~= leaseId then return {'half', ''} end
  if kind == 'fail' then return open() end
  if kind == 'neutral' then
    redis.call('HDEL', h, 'probe', 'probeUntil')
    return {'half', ''}
  end
  clearWindow()
  redis.call('HDEL', h, 'state', 'until', 'probe', 'probeUntil', 'manual')
  return {'closed', 'closed'}
end
if not on then return {'closed', ''} end
local okN = tonumber(ARGV[11]) or 0
if kind == 'ok' then okN = okN + 1 end
local failN = kind == 'fail' and 1 or 0
if okN + failN == 0 then return {'closed', ''} end
-- closed: count the calls in their window bucket; drop buckets that left the window
local last = tonumber(redis.call('HGET', h, 'lastb'))
if last and last < b then
  for i = last - 9, math.min(last, b - 10) do redis.call('HDEL', h, 'c:' .. i, 'f:' .. i) end
end
if last ~= b then redis.call('HSET', h, 'lastb', b) end
redis.call('HINCRBY', h, 'c:' .. b, okN + failN)
local consec = 0
if failN == 1 and okN > 0 then
  -- the successes came first: this failure starts a new run
  redis.call('HINCRBY', h, 'f:' .. b, 1)
  redis.call('HSET', h, 'consec', 1)
  consec = 1
elseif failN == 1 then
  redis.call('HINCRBY', h, 'f:' .. b, 1)
  consec = redis.call('HINCRBY', h, 'consec', 1)
else
  redis.call('HSET', h, 'consec', 0)
end
redis.call('PEXPIRE', h, ttl)
if consecN > 0 and consec >= consecN then return open() end
if failN == 0 then return {'closed', ''} end
local calls, fails = 0, 0
for i = b - 9, b do
  local v = redis.call('HMGET', h, 'c:' .. i, 'f:' .. i)
  calls = calls + (tonumber(v[1]) or 0)
  fails = fails + (tonumber(v[2]) or 0)
end
if calls >= minCalls and fails >= ratio * calls then return open() end
return {'closed', ''}`;

/** setState(state, untilMs): an operator opens (untilMs -1 = until closed) or closes by hand. */
export const SET_STATE = `${NOW}
local h, leases = KEYS[1], KEYS[2]
local last = tonumber(redis.call('HGET', h, 'lastb')) or 0
for i = last - 10, last do redis.call('HDEL', h, 'c:' .. i, 'f:' .. i) end
redis.call('HDEL', h, 'consec', 'lastb', 'probe', 'probeUntil', 'pause')
if ARGV[1] == 'open' then
  local forMs = tonumber(ARGV[2])
  redis.call('HSET', h, 'state', 'open', 'until', forMs < 0 and -1 or now + forMs, 'manual', '1')
  if forMs < 0 then redis.call('PERSIST', h) else redis.call('PEXPIRE', h, math.max(forMs, 86400000)) end
else
  redis.call('HDEL', h, 'state', 'until', 'manual')
end
return now`;
