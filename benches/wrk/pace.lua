-- wrk script for benches/wrk/run.sh's BENCH_DELAY_MS: each connection waits WRK_DELAY_MS
-- milliseconds between a response and its next request, so that every server gets the same
-- offered load (about connections * 1000 / delay requests per second) and p99 measures the
-- server rather than wrk's own queueing once wrk is the bottleneck.
local ms = tonumber(os.getenv("WRK_DELAY_MS")) or 0

function delay()
  return ms
end
