"""The Lua scripts of the shared frontier (``frontier.py``): each step of the reliable queue is
one script, so Redis applies it whole or not at all. ``ARGV[1]`` is always the key prefix
``imagescraper:<name>:``; the scripts name their keys themselves (one Redis server, not a cluster).
"""

# Queue (fingerprint, url) pairs never seen; a replace round queues all, each to the server holding it.
ADD = """
local p, replace = ARGV[1], ARGV[2] == 'r'
local added = 0
for i = 3, #ARGV, 2 do
  local fp, url = ARGV[i], ARGV[i + 1]
  local fresh = redis.call('SADD', p .. 'seen', fp) == 1
  if replace then
    local owner = redis.call('HGET', p .. 'stored', fp)
    local entry = fp .. ' r ' .. url
    redis.call('ZREM', p .. 'failed', fp .. ' n ' .. url)
    if owner then redis.call('RPUSH', p .. 'mine:' .. owner, entry) else redis.call('RPUSH', p .. 'queue', entry) end
    added = added + 1
  elseif fresh then
    redis.call('RPUSH', p .. 'queue', fp .. ' n ' .. url)
    added = added + 1
  end
end
return added
"""

# Move up to n entries into this worker's processing list: its own (replace) list first.
TAKE = """
local p, w, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local proc = p .. 'processing:' .. w
local out = {}
redis.call('SADD', p .. 'workers', w)
for _, source in ipairs({p .. 'mine:' .. w, p .. 'queue'}) do
  while #out < n do
    local e = redis.call('LMOVE', source, proc, 'LEFT', 'RIGHT')
    if not e then break end
    if string.sub(e, 18, 18) == 'n' and redis.call('HEXISTS', p .. 'stored', string.sub(e, 1, 16)) == 1 then
      redis.call('LREM', proc, -1, e)  -- stored somewhere already: never fetched twice
    else
      out[#out + 1] = e
    end
  end
end
return out
"""

# Acknowledge an entry: stored here (and by whom), or failed (kept with its reason).
SETTLE = """
local p, w, e, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local held = redis.call('LREM', p .. 'processing:' .. w, 1, e)
local fp = string.sub(e, 1, 16)
local plain = fp .. ' n ' .. string.sub(e, 20)
if outcome == 'stored' then
  local owner = redis.call('HGET', p .. 'stored', fp)
  if owner ~= w then
    redis.call('HSET', p .. 'stored', fp, w)
    redis.call('HINCRBY', p .. 'count:stored', w, 1)
    if owner then redis.call('HINCRBY', p .. 'count:stored', owner, -1) end
  end
  if redis.call('ZREM', p .. 'failed', plain) == 1 then redis.call('HDEL', p .. 'failreason', fp) end
elseif held == 1 then
  if redis.call('ZADD', p .. 'failed', ARGV[5], plain) == 1 then redis.call('HINCRBY', p .. 'count:failed', w, 1) end
  redis.call('HSET', p .. 'failreason', fp, ARGV[6])
end
return held
"""

# Renew this worker's lease, and give back to the queue what workers whose lease ran out held.
HEARTBEAT = """
local p, w, lease = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', p .. 'alive:' .. w, '1', 'PX', lease)
redis.call('SADD', p .. 'workers', w)
local moved = 0
for _, other in ipairs(redis.call('SMEMBERS', p .. 'workers')) do
  if other ~= w and redis.call('EXISTS', p .. 'alive:' .. other) == 0 then
    while redis.call('LMOVE', p .. 'processing:' .. other, p .. 'queue', 'RIGHT', 'LEFT') do moved = moved + 1 end
    redis.call('SREM', p .. 'workers', other)
  end
end
return moved
"""

# A clean stop: what is still held goes back to the front of the queue, the lease ends.
RELEASE = """
local p, w = ARGV[1], ARGV[2]
local moved = 0
while redis.call('LMOVE', p .. 'processing:' .. w, p .. 'queue', 'RIGHT', 'LEFT') do moved = moved + 1 end
redis.call('DEL', p .. 'alive:' .. w)
redis.call('SREM', p .. 'workers', w)
return moved
"""

# Failures from before this run go back to the queue once: a later run retries them, as on one server.
RETRY_FAILED = """
local p, before = ARGV[1], ARGV[2]
local old = redis.call('ZRANGEBYSCORE', p .. 'failed', '-inf', before)
for _, e in ipairs(old) do
  redis.call('ZREM', p .. 'failed', e)
  redis.call('HDEL', p .. 'failreason', string.sub(e, 1, 16))
  redis.call('RPUSH', p .. 'queue', e)
end
return #old
"""

# Whether another live worker is adding a URL file (forgetting dead adders).
ADDING_ELSEWHERE = """
local p, w = ARGV[1], ARGV[2]
for _, other in ipairs(redis.call('SMEMBERS', p .. 'adding')) do
  if other ~= w then
    if redis.call('EXISTS', p .. 'alive:' .. other) == 1 then return 1 end
    redis.call('SREM', p .. 'adding', other)
  end
end
return 0
"""

# The fleet's counts, in all and per worker.
COUNTS = """
local p = ARGV[1]
local names = {}
for _, w in ipairs(redis.call('SMEMBERS', p .. 'workers')) do names[w] = true end
for _, w in ipairs(redis.call('HKEYS', p .. 'count:stored')) do names[w] = true end
for _, w in ipairs(redis.call('HKEYS', p .. 'count:failed')) do names[w] = true end
local queued = redis.call('LLEN', p .. 'queue')
local rows = {}
for w, _ in pairs(names) do
  local holding = redis.call('LLEN', p .. 'processing:' .. w)
  queued = queued + redis.call('LLEN', p .. 'mine:' .. w)
  local stored = tonumber(redis.call('HGET', p .. 'count:stored', w) or '0')
  local failed = tonumber(redis.call('HGET', p .. 'count:failed', w) or '0')
  rows[#rows + 1] = {w, redis.call('EXISTS', p .. 'alive:' .. w), holding, stored, failed}
end
return {queued, redis.call('HLEN', p .. 'stored'), redis.call('ZCARD', p .. 'failed'), rows}
"""
