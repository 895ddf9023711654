-- POST /v1/auth/login of a random one of BENCH_USERS pre-created users
-- (emails BENCH_EMAIL_FORMAT with %d = 1..BENCH_USERS, one password).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local users = tonumber(os.getenv("BENCH_USERS"))
local email_format = os.getenv("BENCH_EMAIL_FORMAT")
local password = os.getenv("BENCH_PASSWORD")
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  bench_seed()
end

function request()
  local email = string.format(email_format, math.random(users))
  local body = '{"email":"' .. email .. '","password":"' .. password .. '"}'
  return wrk.format("POST", "/v1/auth/login", headers, body)
end
