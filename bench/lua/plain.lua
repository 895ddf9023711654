-- GET the URL as given (hello, /healthz): only the JSON report is added.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
