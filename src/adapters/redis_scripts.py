"""The quota counter's Lua scripts (see adapters/redis_quota.py for the keys they touch).

Alert thresholds and the spend cap travel in the organization's window hash, so deciding them
costs the consume path no extra round trip:
  alerts:<metric>   "<threshold id>|<level>,..." (e.g. "percent:80|80,percent:100|100")
  cap               the spend cap in voice words (absent: no cap)
Marks of what fired live in quota:{org}:marks, one field per (metric, threshold id, period
start ms), and "cap:<period start ms>" for the cap's first refusal of a period: HSETNX makes
each fire once however many consumers cross it together.
"""

from __future__ import annotations

# KEYS: window, counter, idempotency answer, the organization's ledger stream, marks, the other
# voice counter, the pending set of the organization's hash slot (every key in one slot).
# ARGV: mode, metric, amount, now ms, idempotency key, its ttl, org, gauge?, gauge end, voice?
CONSUME = """
-- Lua numbers are doubles: tostring writes 2^53 as 9.007199254741e+15, so counts go out as %d.
local function int(n) return string.format('%d', n) end
local w = redis.call('HMGET', KEYS[1], 'start', 'end', 'limit:' .. ARGV[2],
                     'alerts:' .. ARGV[2], 'cap')
if not w[1] then return {'no_window'} end
if tonumber(ARGV[4]) >= tonumber(w[2]) then return {'no_window'} end
local start, finish = w[1], w[2]
if ARGV[8] == '1' then start = '0'; finish = ARGV[9] end
if ARGV[5] ~= '' then
  local previous = redis.call('GET', KEYS[3])
  if previous then return {'duplicate', previous, w[3], start, finish} end
end
local c = redis.call('HMGET', KEYS[2], 'period', 'used')
if c[1] ~= start then return {'no_counter', '0', w[3], start, finish} end
local used = tonumber(c[2])
local amount = tonumber(ARGV[3])
if ARGV[1] == 'peek' then return {'ok', int(used), w[3], start, finish} end
if ARGV[1] == 'release' then
  if amount > used then amount = used end
  amount = -amount
elseif tonumber(w[3]) >= 0 and used + amount > tonumber(w[3]) then
  return {'refused', int(used), w[3], start, finish}
end
if ARGV[1] == 'consume' and ARGV[10] == '1' and w[5] then
  local o = redis.call('HMGET', KEYS[6], 'period', 'used')
  if o[1] ~= start then return {'no_counter', '0', w[3], start, finish} end
  local spent = used + tonumber(o[2])
  if spent + amount > tonumber(w[5]) then
    if redis.call('HSETNX', KEYS[5], 'cap:' .. start, '1') == 1 then
      redis.call('XADD', KEYS[4], '*', 'org', ARGV[7], 'metric', ARGV[2], 'amount', '0',
                 'at', ARGV[4], 'idem', '', 'period', start, 'end', finish,
                 'capped', int(spent) .. '|' .. w[5])
      redis.call('SADD', KEYS[7], ARGV[7])
    end
    return {'capped', int(used), w[3], start, finish, int(spent), w[5]}
  end
end
if amount ~= 0 then
  used = redis.call('HINCRBY', KEYS[2], 'used', amount)
  local entry = {'org', ARGV[7], 'metric', ARGV[2], 'amount', int(amount), 'at', ARGV[4],
                 'idem', ARGV[5], 'period', start}
  if ARGV[1] == 'consume' and w[4] then
    local fired = {}
    for id, level in string.gmatch(w[4], '([^,|]+)|(%d+)') do
      if used >= tonumber(level) and
         redis.call('HSETNX', KEYS[5], ARGV[2] .. ':' .. id .. ':' .. start, '1') == 1 then
        fired[#fired + 1] = id .. '|' .. level
      end
    end
    if #fired > 0 then
      for _, v in ipairs({'fired', table.concat(fired, ','), 'used', int(used), 'end', finish,
                          'limit', w[3]}) do
        entry[#entry + 1] = v
      end
    end
  end
  redis.call('XADD', KEYS[4], '*', unpack(entry))
  redis.call('SADD', KEYS[7], ARGV[7])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], int(used), 'EX', ARGV[6]) end
return {'ok', int(used), w[3], start, finish}
"""

SEED = """
if redis.call('HGET', KEYS[1], 'period') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'period', ARGV[1], 'used', ARGV[2], 'end', ARGV[4])
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else redis.call('PERSIST', KEYS[1]) end
return 1
"""

# Recorded usage. KEYS: the recording's mark (its token), the window, the marks, then the
# counters. ARGV[1] is 'apply' (when the mark is new) or 'undo' (when it is there, with the
# quantities negated: the thresholds the recording fired are unmarked again), ARGV[2] the
# number of counters n, ARGV[3 .. 2+n] their metrics, ARGV[3+n .. 2+2n] '1' for a voice
# counter, then (counter index, occurred ms, quantity) triples: each counts into its counter
# when that counter's period holds it. A missing counter stays missing. A repeated 'apply'
# (its reply was lost) counts nothing and answers what the first one answered.
# Answers {} (nothing done) or {fired, voice before, voice after, cap, start, end}: fired is
# "<metric>|<threshold id>|<level>|<used>|<limit>,...", the voice totals -1 when a voice
# counter is missing.
RECORD = r"""
local n = tonumber(ARGV[2])
if ARGV[1] == 'apply' then
  if not redis.call('SET', KEYS[1], '-', 'NX', 'EX', 3600) then
    -- A repeat after a lost reply: the first call's answer, so its news is not lost.
    local kept = redis.call('GET', KEYS[1]) or ''
    local answer = string.match(kept, '\n(.*)$')
    if not answer then return {} end
    local parts = {}
    for part in string.gmatch(answer .. '\t', '([^\t]*)\t') do parts[#parts + 1] = part end
    return parts
  end
else
  local marked = redis.call('GET', KEYS[1])
  if not marked then return {} end
  redis.call('DEL', KEYS[1])
  for field in string.gmatch(string.match(marked, '^[^\n]*'), '[^ ]+') do
    if field ~= '-' then redis.call('HDEL', KEYS[3], field) end
  end
end
local function int(x) return string.format('%d', x) end
local w = redis.call('HMGET', KEYS[2], 'start', 'end', 'cap')
local period = {}
local voice_known, has_voice, voice_before = true, false, 0
for k = 1, n do
  local c = redis.call('HMGET', KEYS[3 + k], 'period', 'end', 'used')
  if c[1] and c[2] then period[k] = {tonumber(c[1]), tonumber(c[2])}
  else
    if c[1] then redis.call('DEL', KEYS[3 + k]) end  -- no end: rebuild it from the ledger
    period[k] = false
  end
  if ARGV[2 + n + k] == '1' then
    has_voice = true
    if period[k] and c[1] == w[1] then voice_before = voice_before + tonumber(c[3])
    else voice_known = false end
  end
end
local touched = {}
for i = 3 + 2 * n, #ARGV, 3 do
  local k = tonumber(ARGV[i])
  local p = period[k]
  local at = tonumber(ARGV[i + 1])
  -- The quantity goes to HINCRBY as its digits: Lua's numbers are doubles, exact to 2^53 only.
  if p and at >= p[1] and at < p[2] then
    redis.call('HINCRBY', KEYS[3 + k], 'used', ARGV[i + 2])
    touched[k] = true
  end
end
if ARGV[1] == 'undo' or not w[1] then return {} end
local fired, marks, voice_after = {}, {'-'}, 0
for k = 1, n do
  local c = redis.call('HMGET', KEYS[3 + k], 'period', 'used')
  local metric = ARGV[2 + k]
  if ARGV[2 + n + k] == '1' and c[1] == w[1] then voice_after = voice_after + tonumber(c[2]) end
  local a = redis.call('HMGET', KEYS[2], 'alerts:' .. metric, 'limit:' .. metric)
  local alerts = a[1]
  if touched[k] and alerts and c[1] then
    local used = tonumber(c[2])
    for id, level in string.gmatch(alerts, '([^,|]+)|(%d+)') do
      local field = metric .. ':' .. id .. ':' .. c[1]
      if used >= tonumber(level) and redis.call('HSETNX', KEYS[3], field, '1') == 1 then
        fired[#fired + 1] = table.concat({metric, id, level, int(used), a[2] or '-1'}, '|')
        marks[#marks + 1] = field
      end
    end
  end
end
if not (voice_known and has_voice) then voice_before, voice_after = -1, -1 end
local answer = {table.concat(fired, ','), int(voice_before), int(voice_after), w[3] or '-1',
                w[1], w[2]}
-- Kept with the recording: the marks to take back on undo, and the answer for a repeat.
redis.call('SET', KEYS[1], table.concat(marks, ' ') .. '\n' .. table.concat(answer, '\t'),
           'EX', 3600)
return answer
"""

# Flushed entries leave their stream (KEYS[1]); once it is empty the organization ARGV[1] leaves
# the pending set KEYS[2] ('' for the earlier single stream, which has none). ARGV[2] is how
# many of the entries are refunds, each an (id, period, amount) triple for the counter
# KEYS[2 + n], then the plain ids. A refund is applied only by the call whose XDEL removes the
# entry, so at most once. The stream itself stays: its last id keeps new ids increasing.
ACK = """
local refunds = tonumber(ARGV[2])
for n = 1, refunds do
  local i = 3 + (n - 1) * 3
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 and
     redis.call('HGET', KEYS[2 + n], 'period') == ARGV[i + 1] then
    redis.call('HINCRBY', KEYS[2 + n], 'used', -tonumber(ARGV[i + 2]))
  end
end
local first = 3 + refunds * 3
for i = first, #ARGV, 1000 do
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[1] ~= '' and redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 0
"""
