-- Loaded by every bench script (dofile): reports a wrk run as one JSON line
-- that bench/wrk.py reads, and offers small helpers.

local threads = {}
local next_id = 0

-- Each thread gets an id (0, 1, ...) and its own random seed.
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function bench_seed()
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

-- The lines of a file, as a list.
function bench_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  return lines
end

-- The slice of `items` that belongs to thread `id` out of `count` threads.
function bench_share(items)
  local mine = {}
  local count = tonumber(os.getenv("BENCH_THREADS") or "1")
  for i = 1, #items do
    if (i - 1) % count == id then
      mine[#mine + 1] = items[i]
    end
  end
  return mine
end

-- Progress for long runs: a line every `BENCH_PROGRESS_EVERY` good responses.
local progress_every = tonumber(os.getenv("BENCH_PROGRESS_EVERY") or "0")
local good = 0
function bench_count_good()
  if progress_every > 0 then
    good = good + 1
    if good % progress_every == 0 then
      io.stdout:write("BENCH_PROGRESS " .. progress_every .. "\n")
      io.stdout:flush()
    end
  end
end

function done(summary, latency, requests)
  local lost = 0
  for _, thread in ipairs(threads) do
    lost = lost + (tonumber(thread:get("lost")) or 0)
  end
  local e = summary.errors
  io.stdout:write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, '
      .. '"chains_lost": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    lost, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max
  ))
  io.stdout:flush()
end
