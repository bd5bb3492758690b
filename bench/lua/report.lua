-- Agent reports: PUT sources/{id}/driverState in turn for each registered agent (one "id token"
-- pair a line in $AGENTS_FILE), with its bearer token and the body in $REPORT_BODY; with
-- $REPORT_PREFER (e.g. "return=minimal", as migrate-agent sends it) as the Prefer header.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids, tokens = {}, {}
for line in io.lines(os.getenv("AGENTS_FILE")) do
  local id, token = line:match("(%S+)%s+(%S+)")
  ids[#ids + 1] = id
  tokens[#tokens + 1] = token
end
local body = os.getenv("REPORT_BODY")
local prefer = os.getenv("REPORT_PREFER")
if prefer == "" then prefer = nil end
local i = 0
function request()
  i = i % #ids + 1
  return wrk.format("PUT", "/MigrateApi/2019.8/sources/" .. ids[i] .. "/driverState",
    { ["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json",
      ["Prefer"] = prefer }, body)
end
