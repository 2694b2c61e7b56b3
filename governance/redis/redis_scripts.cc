#include "governance/redis/redis_scripts.h"

namespace warden::redis_scripts {

// KEYS: 1 record hash, 2 idempotency key, 3 expiry zset, 4 awaiting zset,
//       then nf frozen flags, nw charged buckets, each limit's buckets, and
//       last the org's ready mark.
// ARGV: 1 mode (hold|record|restore), 2 id, 3 record JSON, 4 status,
//       5 amount USD micros, 6 hold expiry ms, 7 retain-until unix s,
//       8 on_expiry, 9 the record's creation in unix ms when it has an
//       idempotency key, else 0, 10 nf, 11 nw, 12 nl,
//       13 decision,
//       then per charged bucket: child, expire-at unix s;
//       then per limit: kind (u|c), cap, number of buckets;
//       then the scope path joined by '|' (for VoidUnder);
//       last, a deadline on Redis's clock in unix microseconds, or 0.
// Returns {"ok"}, {"notready"}, {"late"}, {"dup", first_id}, {"frozen",
// index of frozen flag} or {"over", {limit_index, used, child, amount, ...},
// ...}. "late": Redis ran it past its deadline (it was stalled, or the
// request was held up), when its caller may have given up and reported
// that nothing happened: nothing is done.
// "restore" (rebuilding from the audit trail) skips the ready mark and every
// check, and leaves an existing record alone, so rebuilds are idempotent.
// A HELD record that awaits approval or a delay is also put in the awaiting
// zset, scored by its hold expiry.
//
// Lua numbers are doubles: sums are exact up to 2^53 micro-dollars; the
// store refuses caps and amounts beyond that.
const char* const kReserve = R"lua(
local mode = ARGV[1]
local deadline = tonumber(ARGV[#ARGV])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) > deadline then
    return {'late'}
  end
end
if mode == 'restore' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok'} end
elseif redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return {'notready'}
end
-- An idempotency key holds "<id>|<creation ms>" of its newest record.
if ARGV[9] ~= '0' and mode ~= 'restore' then
  local first = redis.call('GET', KEYS[2])
  if first then return {'dup', string.match(first, '^[^|]+')} end
end
local nf, nw, nl = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local write_at = 5 + nf
if mode == 'hold' or mode == 'restore' then
  for i = 0, nf - 1 do
    if redis.call('EXISTS', KEYS[5 + i]) == 1 then return {'frozen', i} end
  end
  local amount = tonumber(ARGV[5])
  local over = {}
  local k = write_at + nw
  local a = 14 + 2 * nw
  for j = 0, nl - 1 do
    local kind, cap, n = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    a = a + 3
    local field = kind == 'u' and 'usd' or 'cnt'
    local used = 0
    for i = 0, n - 1 do
      local v = redis.call('HGET', KEYS[k + i], field)
      if v then used = used + tonumber(v) end
    end
    local req = kind == 'u' and amount or 1
    if used + req > cap then
      local prefix = kind == 'u' and 'u:' or 'c:'
      local by = {}
      for i = 0, n - 1 do
        local h = redis.call('HGETALL', KEYS[k + i])
        for x = 1, #h, 2 do
          if string.sub(h[x], 1, 2) == prefix then
            local child = string.sub(h[x], 3)
            by[child] = (by[child] or 0) + tonumber(h[x + 1])
          end
        end
      end
      local entry = {j, used}
      for child, v in pairs(by) do
        if v ~= 0 then
          entry[#entry + 1] = child
          entry[#entry + 1] = v
        end
      end
      over[#over + 1] = entry
    end
    k = k + n
  end
  if #over > 0 then return {'over', over} end
  local charged = {}
  for i = 0, nw - 1 do
    local key = KEYS[write_at + i]
    local child = ARGV[14 + 2 * i]
    redis.call('HINCRBY', key, 'usd', ARGV[5])
    redis.call('HINCRBY', key, 'cnt', 1)
    redis.call('HINCRBY', key, 'u:' .. child, ARGV[5])
    redis.call('HINCRBY', key, 'c:' .. child, 1)
    redis.call('EXPIREAT', key, ARGV[15 + 2 * i])
    charged[#charged + 1] = key .. '\t' .. child
  end
  redis.call('HSET', KEYS[1], 'b', table.concat(charged, '\n'))
  if ARGV[4] == 'HELD' then
    redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
    -- Outlives the longest hold (7 days) by a day; refreshed by every hold.
    redis.call('EXPIRE', KEYS[3], 691200)
    if ARGV[13] == 'PENDING_APPROVAL' or ARGV[13] == 'DELAYED' then
      redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2])
      redis.call('EXPIRE', KEYS[4], 691200)
    end
  end
end
redis.call('HSET', KEYS[1], 'rec', ARGV[3], 'st', ARGV[4], 'usd', ARGV[5],
           'exp', ARGV[6], 'pol', ARGV[8], 'dec', ARGV[13], 'p', ARGV[#ARGV - 1])
redis.call('EXPIREAT', KEYS[1], ARGV[7])
if ARGV[9] ~= '0' then
  -- A rebuild may load two records of a key reused after the first one's
  -- retention, in any order: the newest keeps the key.
  local newer = false
  if mode == 'restore' then
    local cur = redis.call('GET', KEYS[2])
    if cur then
      newer = tonumber(string.match(cur, '|(%d+)$') or '0') > tonumber(ARGV[9])
    end
  end
  if not newer then
    redis.call('SET', KEYS[2], ARGV[2] .. '|' .. ARGV[9], 'EXAT', ARGV[7])
  end
end
return {'ok'}
)lua";

// KEYS: 1 record hash, 2 expiry zset, 3 idempotency key (abandon only; else
//       any key of the org), 4 the org's ready mark, 5 awaiting zset, then
//       the record's charged buckets.
// ARGV: 1 op (settle|void|expire|abandon|vote), 2 id, 3 now ms,
//       4 settled amount (base units), 5 settled USD micros, 6 tx hash,
//       7 approver, 8 vote ("A" or "R", then the vote's JSON),
//       9 hold expiry ms once approved, 10 the same in unix ns,
//       11 on_expiry once approved, 12 approvals required,
//       then the child of each charged bucket.
// Returns {"ok", status-or-outcome} or {"notfound"}, {"notready"} (settle,
// void and vote), {"state", status or decision}, {"expired"}. A vote returns
// {"ok", "DUP"} for an approver who already answered, {"ok", "ALLOW"} when
// it completes the quorum, {"ok", "VOIDED"} for a rejection, else
// {"ok", "VOTED"}.
const char* const kTransition = R"lua(
local op, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rec = redis.call('HMGET', KEYS[1], 'st', 'usd', 'exp', 'pol', 'sa', 'tx',
                      'dec')
local st, usd, exp, pol, dec = rec[1], rec[2], tonumber(rec[3]), rec[4], rec[7]
if not st then return {'notfound'} end
if op ~= 'expire' and op ~= 'abandon' and
   redis.call('EXISTS', KEYS[4]) == 0 then
  return {'notready'}
end
local function release(usd_delta, cnt_delta)
  for i = 6, #KEYS do
    local child = ARGV[7 + i]
    if usd_delta ~= '0' then
      redis.call('HINCRBY', KEYS[i], 'usd', '-' .. usd_delta)
      redis.call('HINCRBY', KEYS[i], 'u:' .. child, '-' .. usd_delta)
    end
    if cnt_delta ~= 0 then
      redis.call('HINCRBY', KEYS[i], 'cnt', -cnt_delta)
      redis.call('HINCRBY', KEYS[i], 'c:' .. child, -cnt_delta)
    end
  end
end
if op == 'abandon' then
  if st == 'HELD' then release(usd, 1) end
  redis.call('DEL', KEYS[1])
  local key = redis.call('GET', KEYS[3])
  if key and string.match(key, '^[^|]+') == id then
    redis.call('DEL', KEYS[3])
  end
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[5], id)
  return {'ok', 'ABANDONED'}
end
if op == 'settle' and st == 'SETTLED' and rec[5] == ARGV[4] and
   rec[6] == ARGV[6] then
  return {'ok', st}
end
if op == 'void' and st == 'VOIDED' then return {'ok', st} end
if st ~= 'HELD' then return {'state', st} end
if op == 'expire' then
  if exp > now then return {'state', st} end
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[5], id)
  if pol == 'release' then
    release(usd, 1)
    redis.call('HSET', KEYS[1], 'st', 'EXPIRED', 'ec', '0')
  else
    redis.call('HSET', KEYS[1], 'st', 'EXPIRED', 'ec', '1')
  end
  return {'ok', 'EXPIRED'}
end
if exp <= now then return {'expired'} end
if op == 'vote' then
  if dec ~= 'PENDING_APPROVAL' and dec ~= 'DELAYED' then
    return {'state', dec or st}
  end
  local field = 'v:' .. ARGV[7]
  if redis.call('HEXISTS', KEYS[1], field) == 1 then return {'ok', 'DUP'} end
  redis.call('HSET', KEYS[1], field, ARGV[8])
  if string.sub(ARGV[8], 1, 1) == 'R' then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[5], id)
    release(usd, 1)
    redis.call('HSET', KEYS[1], 'st', 'VOIDED')
    return {'ok', 'VOIDED'}
  end
  local approvals = redis.call('HINCRBY', KEYS[1], 'na', 1)
  if dec == 'PENDING_APPROVAL' and approvals >= tonumber(ARGV[12]) then
    redis.call('HSET', KEYS[1], 'dec', 'ALLOW', 'exp', ARGV[9], 'hx', ARGV[10],
               'pol', ARGV[11])
    redis.call('ZADD', KEYS[2], ARGV[9], id)
    redis.call('ZREM', KEYS[5], id)
    return {'ok', 'ALLOW'}
  end
  return {'ok', 'VOTED'}
end
if op == 'settle' and dec == 'PENDING_APPROVAL' then return {'state', dec} end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[5], id)
if op == 'void' then
  release(usd, 1)
  redis.call('HSET', KEYS[1], 'st', 'VOIDED')
  return {'ok', 'VOIDED'}
end
-- settle: release the part of the hold that was not spent.
local unused = tonumber(usd) - tonumber(ARGV[5])
release(string.format('%d', unused), 0)
redis.call('HSET', KEYS[1], 'st', 'SETTLED', 'sa', ARGV[4], 'su', ARGV[5],
           'tx', ARGV[6])
return {'ok', 'SETTLED'}
)lua";

}  // namespace warden::redis_scripts
