//! The Lua scripts the writer runs (loaded on every connection).

/// Appends one event: idempotent per writer token, entry and mapping together.
///
/// KEYS: stream, id mapping. ARGV: max_events, max_age ms, writer token, fields...
pub(super) const APPEND_LUA: &str = r"
local existing = redis.call('GET', KEYS[2])
if existing then
  local found = redis.call('XRANGE', KEYS[1], existing, existing)
  if #found == 1 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'w' and fields[i + 1] == ARGV[3] then return existing end
    end
  end
end
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'w', ARGV[3], unpack(ARGV, 4))
redis.call('SET', KEYS[2], entry, 'PX', ARGV[2])
return entry
";

/// Trims entries older than ARGV[1] ms by the server's clock.
pub(super) const TRIM_LUA: &str = r"
local t = redis.call('TIME')
local min = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
if min <= 0 then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', min))
";
