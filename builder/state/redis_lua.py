"""The Lua scripts behind :class:`builder.state.redis.RedisStore`'s atomic operations.

Redis runs a script alone, start to end: what one reads, no other client changes before it
has written. Key layout: the docstring of :mod:`builder.state.redis`.
"""

from __future__ import annotations

__all__ = [
    "DELETE_PENDING",
    "DROP_UNUSED_CLIENTS",
    "END_GRANT",
    "REDEEM_CODE",
    "REPLACE_GRANT_TOKENS",
    "REVOKE",
    "ROTATE_REFRESH",
    "SAVE_CLIENT",
    "SAVE_TOKENS_SCRIPT",
    "TAKE_PENDING_BY_STATE",
    "TOUCH_CLIENT",
]

# ARGV values are strings made by Python; numbers that go back into records (timestamps,
# versions) are passed as strings and stored as they are, never via tostring().

_HELPERS = """
local function save_tokens(p, argv, at, now_ms)
  local n = tonumber(argv[at])
  local grants = {}
  local i = at + 1
  for _ = 1, n do
    local hash, grant, data, revoked, exp = argv[i], argv[i + 1], argv[i + 2], argv[i + 3],
      argv[i + 4]
    i = i + 5
    local key = p .. 'token:' .. hash
    local set = p .. 'grant-tokens:' .. grant
    redis.call('DEL', key)
    redis.call('HSET', key, 'data', data, 'revoked', revoked)
    if exp == '' then
      redis.call('ZADD', set, 'inf', hash)
    else
      redis.call('PEXPIREAT', key, exp)
      redis.call('ZADD', set, exp, hash)
    end
    grants[set] = true
  end
  for set in pairs(grants) do
    -- Forget expired members; the set lives as long as its longest-lived token.
    redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. now_ms)
    local top = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
    if top[2] == nil then
      redis.call('DEL', set)
    elseif top[2] == 'inf' then
      redis.call('PERSIST', set)
    else
      redis.call('PEXPIREAT', set, top[2])
    end
  end
end

local function live(p, hash)
  return hash and redis.call('HGET', p .. 'token:' .. hash, 'revoked') == '0'
end
"""


# KEYS: token key. ARGV: prefix, now_ms, then the tokens (builder.state.redis._token_args).
SAVE_TOKENS_SCRIPT = _HELPERS + "save_tokens(ARGV[1], ARGV, 3, ARGV[2])\nreturn 1\n"

# KEYS: code. ARGV: prefix, now, window, answer, issued refresh hash or '', now_ms, tokens.
# Returns {outcome, data, used, redeemed_at, answer, issued_refresh}.
REDEEM_CODE = (
    _HELPERS
    + """
local code = KEYS[1]
local p, now, window = ARGV[1], ARGV[2], tonumber(ARGV[3])
local f = redis.call('HMGET', code, 'data', 'used', 'redeemed_at', 'answer', 'issued_refresh')
if not f[1] then return {'unknown'} end
if f[2] == '0' then
  redis.call('HSET', code, 'used', '1', 'redeemed_at', now, 'answer', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', code, 'issued_refresh', ARGV[5]) end
  save_tokens(p, ARGV, 7, ARGV[6])
  f = redis.call('HMGET', code, 'data', 'used', 'redeemed_at', 'answer', 'issued_refresh')
  return {'first', f[1], f[2], f[3], f[4], f[5]}
end
local outcome = 'reused'
if f[3] and f[4] and tonumber(now) - tonumber(f[3]) <= window and live(p, f[5]) then
  outcome = 'again'
end
return {outcome, f[1], f[2], f[3], f[4], f[5]}
"""
)

# KEYS: token. ARGV: prefix, now, window, answer, successor hash or '', now_ms, tokens.
# Returns {outcome, data, revoked, rotated_at, answer, successor}.
ROTATE_REFRESH = (
    _HELPERS
    + """
local token = KEYS[1]
local p, now, window = ARGV[1], ARGV[2], tonumber(ARGV[3])
local f = redis.call('HMGET', token, 'data', 'revoked', 'rotated_at', 'answer', 'successor')
if not f[1] then return {'unknown'} end
if f[2] == '0' then
  redis.call('HSET', token, 'revoked', '1', 'rotated_at', now, 'answer', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', token, 'successor', ARGV[5]) end
  save_tokens(p, ARGV, 7, ARGV[6])
  f = redis.call('HMGET', token, 'data', 'revoked', 'rotated_at', 'answer', 'successor')
  return {'first', f[1], f[2], f[3], f[4], f[5]}
end
local outcome = 'reused'
if not f[3] then
  outcome = 'ended'
elseif f[4] and tonumber(now) - tonumber(f[3]) <= window and live(p, f[5]) then
  outcome = 'again'
end
return {outcome, f[1], f[2], f[3], f[4], f[5]}
"""
)

# KEYS: token. Returns its fields after revoking it, or nil.
REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('HSET', KEYS[1], 'revoked', '1')
return redis.call('HMGET', KEYS[1], 'data', 'revoked', 'rotated_at', 'answer', 'successor')
"""

# KEYS: grant. ARGV: expected version, next version, tokens (JSON). 1 when replaced.
REPLACE_GRANT_TOKENS = """
local f = redis.call('HMGET', KEYS[1], 'version', 'active')
if f[1] ~= ARGV[1] or f[2] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'tokens', ARGV[3])
return 1
"""

# KEYS: grant, its token set. ARGV: prefix, memory (ms).
END_GRANT = """
local p = ARGV[1]
for _, hash in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local key = p .. 'token:' .. hash
  if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'revoked', '1') end
end
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'active', '0')
  local left = redis.call('PTTL', KEYS[2])
  if left ~= -1 then
    redis.call('PEXPIRE', KEYS[1], math.max(left, 0) + tonumber(ARGV[2]))
  end
end
return 1
"""

# KEYS: client, clients, unused clients. ARGV: prefix, id, info, created, cap.
# Returns {dropped} or {-1, clients in use}.
SAVE_CLIENT = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'info', ARGV[3])
  return {0}
end
local count = redis.call('ZCARD', KEYS[2])
local excess = count - tonumber(ARGV[5]) + 1
local dropped = 0
if excess > 0 then
  local victims = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  if #victims < excess then return {-1, count - #victims} end
  for _, victim in ipairs(victims) do
    redis.call('DEL', p .. 'client:' .. victim)
    redis.call('ZREM', KEYS[2], victim)
    redis.call('ZREM', KEYS[3], victim)
  end
  dropped = #victims
end
redis.call('HSET', KEYS[1], 'info', ARGV[3], 'created', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], id)
redis.call('ZADD', KEYS[3], ARGV[4], id)
return {dropped}
"""

# KEYS: client, unused clients. ARGV: id, now.
TOUCH_CLIENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_used', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: clients, unused clients. ARGV: prefix, cutoff. How many clients went.
DROP_UNUSED_CLIENTS = """
local victims = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
for _, victim in ipairs(victims) do
  redis.call('DEL', ARGV[1] .. 'client:' .. victim)
  redis.call('ZREM', KEYS[1], victim)
  redis.call('ZREM', KEYS[2], victim)
end
return #victims
"""

# KEYS: the state's index key. ARGV: prefix, state, now. The pending record (JSON) or nil.
TAKE_PENDING_BY_STATE = """
local id = redis.call('GET', KEYS[1])
if not id then return nil end
local key = ARGV[1] .. 'pending:' .. id
local data = redis.call('GET', key)
if not data then
  redis.call('DEL', KEYS[1])
  return nil
end
local pending = cjson.decode(data)
if pending.upstream_state ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  return nil
end
if tonumber(pending.expires_at) <= tonumber(ARGV[3]) then return nil end
redis.call('DEL', KEYS[1], key)
return data
"""

# KEYS: pending. ARGV: prefix, id.
DELETE_PENDING = """
local data = redis.call('GET', KEYS[1])
if not data then return 0 end
local state = cjson.decode(data).upstream_state
if type(state) == 'string' then
  local index = ARGV[1] .. 'pending-state:' .. state
  if redis.call('GET', index) == ARGV[2] then redis.call('DEL', index) end
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lock. ARGV: owner. Deleted only by the owner that set it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
