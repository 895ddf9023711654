-- POST /v1/auth/refresh, each chain followed on its own: a token is sent once,
-- and the token in its answer is the only next request of that chain.
--
-- wrk's response() does not say which connection answered, so the chains are
-- not bound to connections: each thread keeps a FIFO of the latest token of
-- each of its chains, a request takes the oldest, its answer puts the
-- successor back. With at least as many chains as connections, every chain
-- has at most one request in flight, which is all a rotation chain needs.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = { ["Content-Type"] = "application/json" }

function init(args)
  queue = bench_share(bench_lines(os.getenv("BENCH_TOKENS")))
  first, last = 1, #queue
  lost = 0
end

function request()
  local token = "no-chain-left" -- every chain of this thread is in flight or lost: a counted 401
  if first <= last then
    token = queue[first]
    queue[first] = nil
    first = first + 1
  end
  return wrk.format("POST", "/v1/auth/refresh", headers, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if successor then
    last = last + 1
    queue[last] = successor
    bench_count_good()
  else
    lost = lost + 1
  end
end
