package redis

import goredis "github.com/redis/go-redis/v9"

// The transport's multi-key steps run as Lua scripts, so that each is
// atomic: no message is ever popped from a list without being recorded as
// unacknowledged in the same step (kombu's BRPOP-then-HSET leaves a window
// where a crash loses the message; a claim here does not).

// claimScript moves due delayed messages into their lists, then pops up to
// max messages from the queue's lists in priority order and records each
// as unacknowledged as kombu does (unacked hash and index) plus a dsys
// lease. It returns {next due time in ms or -1, tag, message, tag,
// message, ...}. A message without a delivery tag gets one made of a base
// and a counter.
//
// KEYS: unacked, unacked_index, leases, then per priority step its list and
// its delayed set. ARGV: now (s, kombu's index score), now (ms), lease
// expiry (ms), max, queue name, tag base, max delayed moved.
var claimScript = goredis.NewScript(`
local out = {-1}
local nowms = tonumber(ARGV[2])
local n = tonumber(ARGV[4])
local moves = tonumber(ARGV[7])
local next = -1
for i = 4, #KEYS, 2 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[i+1], '-inf', nowms, 'LIMIT', 0, moves)
  for _, m in ipairs(due) do
    redis.call('ZREM', KEYS[i+1], m)
    redis.call('LPUSH', KEYS[i], m)
  end
  local first = redis.call('ZRANGE', KEYS[i+1], 0, 0, 'WITHSCORES')
  if first[2] then
    local s = tonumber(first[2])
    if next < 0 or s < next then next = s end
  end
end
out[1] = next
local made = 0
local got = 0
for i = 4, #KEYS, 2 do
  while got < n do
    local v = redis.call('RPOP', KEYS[i])
    if not v then break end
    local tag, ex, rk
    local ok, m = pcall(cjson.decode, v)
    local entry
    if ok and type(m) == 'table' then
      local p = m['properties']
      if type(p) == 'table' then
        if type(p['delivery_tag']) == 'string' and p['delivery_tag'] ~= '' then tag = p['delivery_tag'] end
        local di = p['delivery_info']
        if type(di) == 'table' then ex = di['exchange']; rk = di['routing_key'] end
      end
      if type(ex) ~= 'string' then ex = '' end
      if type(rk) ~= 'string' then rk = ARGV[5] end
      entry = '[' .. v .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']'
    else
      entry = '[' .. cjson.encode(v) .. ', "", ' .. cjson.encode(ARGV[5]) .. ']'
    end
    if not tag then
      made = made + 1
      tag = ARGV[6] .. '.' .. made
    end
    redis.call('HSET', KEYS[1], tag, entry)
    redis.call('ZADD', KEYS[2], ARGV[1], tag)
    redis.call('ZADD', KEYS[3], ARGV[3], tag)
    got = got + 1
    out[#out+1] = tag
    out[#out+1] = v
  end
end
return out
`)

// putBackScript settles a delivery by returning a message to its queue:
// if the tag is still unacknowledged (nobody restored or acknowledged it
// meanwhile) it is removed from the unacked hash, index and leases, and
// the message is pushed to the consumption end of its list (kombu's
// restore: RPUSH, "rpush"), to the back ("lpush"), or delayed until a time
// ("zadd"). It returns 1, or 0 when the tag was no longer held.
//
// KEYS: unacked, unacked_index, leases, list, delayed set. ARGV: tag,
// message, how ("rpush", "lpush", "zadd"), due time in ms (for zadd).
var putBackScript = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[3] == 'rpush' then
  redis.call('RPUSH', KEYS[4], ARGV[2])
elseif ARGV[3] == 'lpush' then
  redis.call('LPUSH', KEYS[4], ARGV[2])
else
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[2])
end
return 1
`)

// renewScript extends the leases of the tags still held (ZADD XX: a tag
// acknowledged or restored meanwhile stays gone) and refreshes their
// kombu index score, so a Celery worker's restore (which goes by delivery
// time) never takes a task a dsys worker is still running.
//
// KEYS: unacked_index, leases. ARGV: now (s), lease expiry (ms), tags...
var renewScript = goredis.NewScript(`
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
  redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[i])
end
return #ARGV - 2
`)

// unlockScript releases the unacked mutex if this holder still has it, as
// redis-py's Lock.release does.
var unlockScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// storeResultScript stores a result document as Celery's Redis backend
// does (SET with the result expiry, then PUBLISH on the same key for
// waiting clients), except that a SUCCESS already stored is kept: Celery's
// _store_result ignores later states of a task that succeeded (a duplicate
// run of it, say), so does this. It returns 1 when stored.
//
// KEYS: celery-task-meta-<id>. ARGV: document, expiry in seconds (0: none).
var storeResultScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' and m['status'] == 'SUCCESS' then return 0 end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`)
