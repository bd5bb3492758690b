-- Resumed downloads: random 1 MiB ranges of the large package from a seeded sequence (each wrk
-- thread starts the same sequence, so nginx and psserver are asked for the same ranges).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local size = tonumber(os.getenv("RANGE_FILE_SIZE"))
local len = 1048576
math.randomseed(42)
function request()
  local start = math.random(0, size - len)
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + len - 1) })
end
