-- POST /oauth/introspect (RFC 7662) of an access token from BENCH_TOKENS, in
-- turn, as a service client with HTTP Basic credentials (BENCH_BASIC_AUTH).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = {
  ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC_AUTH"),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

function init(args)
  tokens = bench_share(bench_lines(os.getenv("BENCH_TOKENS")))
  turn = 0
end

function request()
  turn = turn % #tokens + 1
  local body = "token=" .. tokens[turn] .. "&token_type_hint=access_token"
  return wrk.format("POST", "/oauth/introspect", headers, body)
end
