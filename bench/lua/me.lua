-- GET /v1/users/me with a valid access token: the tokens of BENCH_TOKENS
-- (one per pre-created session) are used in turn.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function init(args)
  tokens = bench_share(bench_lines(os.getenv("BENCH_TOKENS")))
  turn = 0
end

function request()
  turn = turn % #tokens + 1
  return wrk.format("GET", "/v1/users/me", { ["Authorization"] = "Bearer " .. tokens[turn] })
end
