--[[
prelude.lua: helpers shared by the scripts; redis-store.ts puts it first in every script it loads.
]]

-- Numbers go into Redis and into replies as strings with 17 significant digits: exact round trip of a
-- double (Redis would truncate a Lua number in a reply to an integer).
local function num(x)
  return string.format('%.17g', x)
end
