#include "governance/redis/redis_scripts.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/usage_buckets.h"

namespace warden::redis_scripts {
namespace {

// history() and not_ready(mark). A Redis's replication history
// (master_replid) is new when a replica is promoted or a primary restarts
// without its replication state. An org's ready mark holds the history its
// state was last declared ready on, so a promoted replica, which may lack
// the last writes its primary acknowledged, refuses the org until the engine
// has checked its state against the audit trail (Engine::EnsureReady).
constexpr char kReadyCheck[] = R"lua(
local function history()
  return string.match(redis.call('INFO', 'replication'),
                      'master_replid:(%x+)')
end
-- nil when the org's state is ready here, else 'empty' or 'unverified'.
local function not_ready(mark)
  local m = redis.call('GET', mark)
  if not m then return 'empty' end
  if m ~= history() then return 'unverified' end
  return nil
end
)lua";

// LEVELS, LEVEL_NAMES, KEEP_SECONDS and MAX_EXACT from C++, bucket_fields
// and sum(key, fields): the sum of the fields of a usage hash.
std::string Prelude() {
  std::vector<std::string> levels, names;
  int64_t longest = 0;
  for (const usage::Level& l : usage::kLevels) {
    levels.push_back(absl::StrCat("{'", std::string(1, l.name), "', ",
                                  l.seconds, ", ", l.kept, "}"));
    names.push_back(absl::StrCat("'", std::string(1, l.name), "'"));
    longest = std::max(longest, l.seconds * (l.kept + 1));
  }
  return absl::StrCat(
      kReadyCheck, "local LEVELS = {", absl::StrJoin(levels, ", "), "}\n",
      "local LEVEL_NAMES = {", absl::StrJoin(names, ", "), "}\n",
      // A usage hash left alone this long holds nothing any window reads.
      "local KEEP_SECONDS = ", longest + 86400, "\n",
      "local MAX_EXACT = ", RedisBudgetStore::kMaxExactMicros, "\n", R"lua(
-- Each level's newest-bucket field, then the USD and count fields of the
-- buckets named by ARGV from index `at` on (per level: the bucket, its USD
-- field, its count field).
local function bucket_fields(at)
  local w = {}
  for l = 1, #LEVELS do
    w[l] = LEVEL_NAMES[l]
    w[#LEVELS + 2 * l - 1] = ARGV[at + 3 * l - 2]
    w[#LEVELS + 2 * l] = ARGV[at + 3 * l - 1]
  end
  return w
end

-- HMGET in parts: Lua's unpack takes at most 8,000 values, and 32 limits
-- of a year each read more fields than that.
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, 4000 do
    local part = redis.call('HMGET', key,
                            unpack(fields, i, math.min(i + 3999, #fields)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

local function sum(key, fields)
  local total = 0
  local values = hmget(key, fields)
  for i = 1, #fields do
    if values[i] then total = total + tonumber(values[i]) end
  end
  return total
end
)lua");
}

// KEYS: 1 record hash, 2 idempotency key, 3 expiry zset, 4 awaiting zset,
//       5 the org's ready mark, then nf frozen flags, then ns usage hashes
//       (one per scope of the path when it charges, else 0).
// ARGV: 1 mode (hold|record|restore), 2 id, 3 record JSON, 4 status,
//       5 amount USD micros, 6 hold expiry ms, 7 retain-until unix s,
//       8 on_expiry, 9 the record's creation in unix ms when it has an
//       idempotency key, else 0, 10 nf, 11 ns, 12 nl, 13 decision,
//       14 the charge time in unix s, 15 the scope path joined by '|',
//       then per level: the charge time's bucket and its two field names,
//       then per limit: kind (u|c), cap, scope index into the path (0 the
//       org), the index of the scope whose part a refusal reports (-1:
//       none), interval start in unix s, number of fields, and the fields
//       (the buckets of usage_buckets.h's SpansOf);
//       last, a deadline on Redis's clock in unix microseconds, or 0.
// Returns {"ok", each limit's usage before the charge (a hold)},
// {"notready", why}, {"late"}, {"dup", first_id}, {"frozen",
// index of frozen flag}, {"overflow", usage hash index} or {"over",
// {limit_index, used, used through the path's next scope, pending}, ...}.
// "late": Redis ran it past its deadline (it was stalled, or the request
// was held up), when its caller may have given up and reported that
// nothing happened: nothing is done. "pending" is what spends awaiting
// approval in the limit's scope and window hold.
// "restore" (rebuilding from the audit trail) skips the ready mark and every
// check, and leaves an existing record alone, so rebuilds are idempotent.
// A HELD record that awaits approval or a delay is also put in the awaiting
// zset, scored by its hold expiry.
//
// Usage buckets are read, summed and written back as Lua numbers (doubles),
// exact up to 2^53: the store refuses caps and amounts beyond that, and a
// charge that would take a bucket past it ("overflow": any limit reading
// that bucket is over any cap it accepts anyway). One HMGET and one HSET per
// usage hash: each redis.call costs more than the work it does.
const char* const kReserveBody = R"lua(
local mode = ARGV[1]
local deadline = tonumber(ARGV[#ARGV])
if deadline > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) > deadline then
    return {'late'}
  end
end
if mode == 'restore' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok', 'kept'} end
else
  local why = not_ready(KEYS[5])
  if why then return {'notready', why} end
end
-- An idempotency key holds "<id>|<creation ms>" of its newest record.
if ARGV[9] ~= '0' and mode ~= 'restore' then
  local first = redis.call('GET', KEYS[2])
  if first then return {'dup', string.match(first, '^[^|]+')} end
end
local nf, ns, nl = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local usage_at = 6 + nf
local t = tonumber(ARGV[14])
-- A hold's reply: "ok", then each limit's usage before its charge.
local ok = {'ok'}
local record = {'rec', ARGV[3], 'st', ARGV[4], 'usd', ARGV[5], 'exp', ARGV[6],
                'pol', ARGV[8], 'dec', ARGV[13], 't', ARGV[14], 'p', ARGV[15]}
if mode == 'hold' or mode == 'restore' then
  if nf > 0 and redis.call('EXISTS', unpack(KEYS, 6, 5 + nf)) > 0 then
    for i = 0, nf - 1 do
      if redis.call('EXISTS', KEYS[6 + i]) == 1 then return {'frozen', i} end
    end
  end
  local amount = tonumber(ARGV[5])
  -- One HMGET per usage hash: each level's newest bucket and the charge
  -- time's bucket (fields 1 to 3 * #LEVELS), then the fields of the limits
  -- on that scope.
  -- Field names come ready-made: turning numbers into strings is what
  -- costs most in Lua.
  local want, buckets = {}, {}
  for l = 1, #LEVELS do buckets[l] = tonumber(ARGV[13 + 3 * l]) end
  for s = 0, ns - 1 do want[s] = bucket_fields(16) end
  local limits = {}
  local a = 16 + 3 * #LEVELS
  for j = 0, nl - 1 do
    local kind, cap, s = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local child = tonumber(ARGV[a + 3])
    local from, nfields = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    local w = want[s]
    local first = #w + 1
    for i = a + 6, a + 5 + nfields do w[#w + 1] = ARGV[i] end
    a = a + 6 + nfields
    limits[j + 1] = {kind, cap, s, from, first, #w, child}
  end
  local got = {}
  for s = 0, ns - 1 do
    got[s] = hmget(KEYS[usage_at + s], want[s])
  end
  -- What spends awaiting approval hold in scope s (of the path) since
  -- `from`, in USD or a count: read once, on a refusal or a first-spend
  -- check (at most the 1,000 soonest awaiting).
  local awaiting, path
  local function pending_in(s, from, usd)
    if not awaiting then
      awaiting, path = {}, {}
      local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[2])
      for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, 999)) do
        local r = redis.call('HMGET', prefix .. id, 'dec', 'usd', 't', 'p')
        if r[1] == 'PENDING_APPROVAL' then
          awaiting[#awaiting + 1] = {tonumber(r[2]), tonumber(r[3] or '0'),
                                     '|' .. (r[4] or '') .. '|'}
        end
      end
      for scope in string.gmatch(ARGV[15], '[^|]+') do
        path[#path + 1] = scope
      end
    end
    local scope, pending = '|' .. path[s + 1] .. '|', 0
    for _, r in ipairs(awaiting) do
      if r[2] >= from and string.find(r[3], scope, 1, true) then
        pending = pending + (usd and r[1] or 1)
      end
    end
    return pending
  end
  local over = {}
  for j, lim in ipairs(limits) do
    local used = 0
    for i = lim[5], lim[6] do
      local v = got[lim[3]][i]
      if v then used = used + tonumber(v) end
    end
    lim[8] = used
    -- A negative cap passes on a first spend: nothing counted yet but
    -- spends still awaiting approval.
    if (lim[2] < 0 and (used == 0 or
                        used <= pending_in(lim[3], lim[4], lim[1] == 'u'))) or
       (lim[2] >= 0 and used + (lim[1] == 'u' and amount or 1) > lim[2]) then
      over[#over + 1] = {j - 1, used, lim}
    end
  end
  if #over > 0 then
    -- The figures of the reason: what went through the path's next scope,
    -- and what spends awaiting approval hold.
    local out = {}
    for _, e in ipairs(over) do
      local lim = e[3]
      local child = 0
      if lim[7] >= 0 then
        child = sum(KEYS[usage_at + lim[7]],
                    {unpack(want[lim[3]], lim[5], lim[6])})
      end
      local pending = pending_in(lim[3], lim[4], lim[1] == 'u')
      -- Integer replies: past 2^62 a figure says no more than "too much".
      out[#out + 1] = {e[1], math.min(e[2], 2^62), math.min(child, 2^62),
                       math.min(pending, 2^62)}
    end
    return {'over', out}
  end
  -- The charge, on every level of every scope: all of it computed (and
  -- checked against the largest exact sum) before anything is written.
  local writes = {}
  for s = 0, ns - 1 do
    local g, set, gone, renew = got[s], {}, {}, false
    for l = 1, #LEVELS do
      local name, kept, n = LEVELS[l][1], LEVELS[l][3], buckets[l]
      local newest = g[l] and tonumber(g[l]) or n
      if n >= newest - kept then
        if not g[l] or n > newest then
          -- The buckets that fall out of what the level keeps.
          if g[l] then
            for b = newest - kept, math.min(n - kept - 1, newest) do
              gone[#gone + 1] = name .. b .. 'u'
              gone[#gone + 1] = name .. b .. 'c'
            end
          end
          set[#set + 1] = name
          set[#set + 1] = ARGV[13 + 3 * l]
          renew = renew or l == #LEVELS
        end
        local usd = tonumber(g[#LEVELS + 2 * l - 1] or '0') + amount
        if usd > MAX_EXACT then return {'overflow', s} end
        set[#set + 1] = want[s][#LEVELS + 2 * l - 1]
        set[#set + 1] = string.format('%d', usd)
        set[#set + 1] = want[s][#LEVELS + 2 * l]
        set[#set + 1] = tonumber(g[#LEVELS + 2 * l] or '0') + 1
      end
    end
    writes[s] = {set, gone, renew}
  end
  for s = 0, ns - 1 do
    local key, w = KEYS[usage_at + s], writes[s]
    if #w[2] > 0 then redis.call('HDEL', key, unpack(w[2])) end
    if #w[1] > 0 then redis.call('HSET', key, unpack(w[1])) end
    -- Refreshed when a new day starts: a hash no charge touched for
    -- KEEP_SECONDS holds nothing any window reads.
    if w[3] then redis.call('EXPIRE', key, KEEP_SECONDS) end
  end
  if ns > 0 then
    record[#record + 1] = 'b'
    record[#record + 1] = table.concat({unpack(KEYS, usage_at,
                                               usage_at + ns - 1)}, '\n')
  end
  if ARGV[4] == 'HELD' then
    redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
    -- Outlives the longest hold (7 days) by a day; refreshed by every hold.
    redis.call('EXPIRE', KEYS[3], 691200)
    if ARGV[13] == 'PENDING_APPROVAL' or ARGV[13] == 'DELAYED' then
      redis.call('ZADD', KEYS[4], ARGV[6], ARGV[2])
      redis.call('EXPIRE', KEYS[4], 691200)
    end
  end
  ok = {'ok'}
  for j, lim in ipairs(limits) do ok[j + 1] = math.min(lim[8], 2^62) end
end
redis.call('HSET', KEYS[1], unpack(record))
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
return ok
)lua";

// KEYS: 1 record hash, 2 expiry zset, 3 idempotency key (abandon of a
//       record that has one; else the expiry zset), 4 the org's ready mark, 5
//       awaiting zset, then the usage hashes the record charged.
// ARGV: 1 op (settle|void|expire|abandon|vote), 2 id, 3 now ms,
//       4 settled amount (base units), 5 settled USD micros, 6 tx hash,
//       7 approver, 8 vote ("A" or "R", then the vote's JSON),
//       9 hold expiry ms once approved, 10 the same in unix ns,
//       11 on_expiry once approved, 12 approvals required,
//       then per level: the bucket the record charged and its two field
//       names.
// Returns {"ok", status-or-outcome} or {"notfound"}, {"notready", why} (settle,
// void and vote), {"state", status or decision}, {"expired"}. A vote returns
// {"ok", "DUP"} for an approver who already answered, {"ok", "ALLOW"} when
// it completes the quorum, {"ok", "VOIDED"} for a rejection, else
// {"ok", "VOTED"}.
const char* const kTransitionBody = R"lua(
local op, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rec = redis.call('HMGET', KEYS[1], 'st', 'usd', 'exp', 'pol', 'sa', 'tx',
                      'dec')
local st, usd, exp, pol, dec = rec[1], rec[2], tonumber(rec[3]), rec[4], rec[7]
if not st then return {'notfound'} end
-- Expiring waits for a checked state too: a failover may have lost the
-- settle that stopped the hold from expiring.
if op ~= 'abandon' then
  local why = not_ready(KEYS[4])
  if why then return {'notready', why} end
end
-- Takes back what the record charged to each bucket that is still kept.
local function release(usd_delta, cnt_delta)
  local want = bucket_fields(13)
  for i = 6, #KEYS do
    local g = redis.call('HMGET', KEYS[i], unpack(want))
    local set = {}
    for l = 1, #LEVELS do
      local n = tonumber(ARGV[10 + 3 * l])
      if g[l] and n >= tonumber(g[l]) - LEVELS[l][3] then
        set[#set + 1] = want[#LEVELS + 2 * l - 1]
        set[#set + 1] = string.format(
            '%d', tonumber(g[#LEVELS + 2 * l - 1] or '0') - usd_delta)
        set[#set + 1] = want[#LEVELS + 2 * l]
        set[#set + 1] = tonumber(g[#LEVELS + 2 * l] or '0') - cnt_delta
      end
    end
    if #set > 0 then redis.call('HSET', KEYS[i], unpack(set)) end
  end
end
if op == 'abandon' then
  if st == 'HELD' then release(tonumber(usd), 1) end
  redis.call('DEL', KEYS[1])
  -- KEYS[3] is the expiry zset again when the record has no idempotency key.
  local key = KEYS[3] ~= KEYS[2] and redis.call('GET', KEYS[3])
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
    release(tonumber(usd), 1)
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
    release(tonumber(usd), 1)
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
  release(tonumber(usd), 1)
  redis.call('HSET', KEYS[1], 'st', 'VOIDED')
  return {'ok', 'VOIDED'}
end
-- settle: release the part of the hold that was not spent.
release(tonumber(usd) - tonumber(ARGV[5]), 0)
redis.call('HSET', KEYS[1], 'st', 'SETTLED', 'sa', ARGV[4], 'su', ARGV[5],
           'tx', ARGV[6])
return {'ok', 'SETTLED'}
)lua";

}  // namespace

const std::string& Reserve() {
  static const std::string* const script =
      new std::string(absl::StrCat(Prelude(), kReserveBody));
  return *script;
}

const std::string& Transition() {
  static const std::string* const script =
      new std::string(absl::StrCat(Prelude(), kTransitionBody));
  return *script;
}

const std::string& Sums() {
  // KEYS: one usage hash per sum. ARGV: per sum, its number of fields and
  // the fields. Returns each sum, capped at 2^62 (beyond every cap).
  static const std::string* const script = new std::string(R"lua(
local out, a = {}, 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  local total = 0
  for i = a + 1, a + n, 4000 do
    local v = redis.call('HMGET', KEYS[k], unpack(ARGV, i, math.min(i + 3999, a + n)))
    for j = 1, #v do
      if v[j] then total = total + tonumber(v[j]) end
    end
  end
  out[k] = math.min(total, 2^62)
  a = a + 1 + n
end
return out
)lua");
  return *script;
}

const std::string& Breakdown() {
  // KEYS: 1 the org's ready mark, 2 the expiry zset, then one usage hash per
  // query. ARGV: 1 the record key prefix, 2 the most HELD records to read
  // ({"toomany", count} beyond), then per query: kind (u|c), its
  // interval's start in unix s, its scope, the number of fields to sum and
  // those fields, then the number of fields to search for the first holding
  // usage and those, in time order. Returns {"notready", why} or {"ok", {used,
  // index of the first searched field holding usage (0: none), pending,
  // held}, ...}, each figure capped at 2^62 (beyond every cap).
  static const std::string* const script =
      new std::string(absl::StrCat(kReadyCheck, R"lua(
local why = not_ready(KEYS[1])
if why then return {'notready', why} end
local holds = redis.call('ZCARD', KEYS[2])
if holds > tonumber(ARGV[2]) then return {'toomany', holds} end
-- The fields ARGV[from..to] of `key`, read 4,000 at a time (Lua's unpack
-- takes at most 8,000 values), each passed to `each` with its index.
local function read(key, from, to, each)
  for i = from, to, 4000 do
    local v = redis.call('HMGET', key, unpack(ARGV, i, math.min(i + 3999, to)))
    for j = 1, #v do each(i - from + j, tonumber(v[j] or '0')) end
  end
end
local queries, a = {}, 3
for k = 3, #KEYS do
  local q = {usd = ARGV[a] == 'u', from = tonumber(ARGV[a + 1]),
             scope = '|' .. ARGV[a + 2] .. '|', used = 0, first = 0,
             pending = 0, held = 0}
  local n = tonumber(ARGV[a + 3])
  read(KEYS[k], a + 4, a + 3 + n, function(_, x) q.used = q.used + x end)
  a = a + 4 + n
  n = tonumber(ARGV[a])
  read(KEYS[k], a + 1, a + n, function(i, x)
    if q.first == 0 and x ~= 0 then q.first = i end
  end)
  queries[#queries + 1] = q
  a = a + 1 + n
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local r = redis.call('HMGET', ARGV[1] .. id, 'st', 'dec', 'usd', 't', 'p')
  if r[1] == 'HELD' then
    local t, path = tonumber(r[4] or '0'), '|' .. (r[5] or '') .. '|'
    for _, q in ipairs(queries) do
      if t >= q.from and string.find(path, q.scope, 1, true) then
        local v = q.usd and tonumber(r[3]) or 1
        if r[2] == 'PENDING_APPROVAL' then
          q.pending = q.pending + v
        else
          q.held = q.held + v
        end
      end
    end
  end
end
local out = {'ok'}
for _, q in ipairs(queries) do
  out[#out + 1] = {math.min(q.used, 2^62), q.first, math.min(q.pending, 2^62),
                   math.min(q.held, 2^62)}
end
return out
)lua"));
  return *script;
}

const std::string& CheckReady() {
  // KEYS: 1 the org's ready mark. ARGV: 1 its TTL in seconds, set anew
  // when ready. Returns {"ready", "empty" or "unverified", history}.
  static const std::string* const script =
      new std::string(absl::StrCat(kReadyCheck, R"lua(
local why = not_ready(KEYS[1])
if not why then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {why or 'ready', history()}
)lua"));
  return *script;
}

const std::string& BeginRecovery() {
  // KEYS: 1 the org's recovery key. ARGV: 1 the history being recovered
  // on, 2 how long spends stay refused after a failover is first seen (ms;
  // 0 for none), 3 a fresh token. The key holds "token|history|start
  // ms|hold ms" on Redis's clock; a recovery already under way on this
  // history is joined (its token, its start, and the longest hold any
  // replica asked for: replicas whose audit bounds differ wait for the
  // longest), any other is replaced. A flush deletes it, so MarkReady
  // refuses a rebuild that a flush overtook. Returns {token, ms left until
  // the hold is over}.
  static const std::string* const script = new std::string(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local asked = tonumber(ARGV[2])
local token, hist, start, hold
local cur = redis.call('GET', KEYS[1])
if cur then
  token, hist, start, hold =
      string.match(cur, '^([^|]*)|([^|]*)|(%d+)|(%d+)$')
end
if not token or hist ~= ARGV[1] then
  token, start, hold = ARGV[3], now, asked
else
  start, hold = tonumber(start), math.max(tonumber(hold), asked)
end
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1] .. '|' .. start .. '|' ..
           hold, 'PX', hold + 86400000)
return {token, math.max(0, start + hold - now)}
)lua");
  return *script;
}

const std::string& MarkReady() {
  // KEYS: 1 the org's ready mark, 2 its recovery key, 3 its claim. ARGV:
  // 1 the history checked, 2 the recovery's token, 3 the mark's TTL in
  // seconds, 4 the caller's claim ("" for none). Sets the mark and ends the
  // recovery and any claim; returns 1 (also when the mark is already set on
  // that history), or 0, setting nothing, when this Redis's history is no
  // longer ARGV[1], the recovery is gone (a flush overtook it) or another
  // replica's claim holds it.
  static const std::string* const script =
      new std::string(absl::StrCat(kReadyCheck, R"lua(
if history() ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
local cur = redis.call('GET', KEYS[2])
if not cur or string.sub(cur, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then
  return 0
end
local claim = redis.call('GET', KEYS[3])
if claim and claim ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
)lua"));
  return *script;
}

const std::string& ReleaseClaim() {
  // KEYS: 1 the org's claim. ARGV: 1 the claim given up. Deletes it if it
  // is still that one.
  static const std::string* const script = new std::string(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
)lua");
  return *script;
}

const std::string& SetOnRecord() {
  // KEYS: 1 a record hash. ARGV: field, value, ... Sets them only while the
  // record is there: a flush since must not leave a hash of these fields
  // alone, which a later rebuild would take for the whole record and skip.
  static const std::string* const script = new std::string(R"lua(
if redis.call('HEXISTS', KEYS[1], 'rec') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
)lua");
  return *script;
}

const std::string& Statuses() {
  static const std::string* const script = new std::string(R"lua(
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGET', KEYS[i], 'st')
end
return out
)lua");
  return *script;
}

}  // namespace warden::redis_scripts
