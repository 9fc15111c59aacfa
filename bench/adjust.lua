-- wrk script: POST one adjustment per request to a random account of BENCH_IDS.
-- BENCH_MODE: native (POST /api/v1/...), square (POST /v2/loyalty/...) or bare (the bench view).
local mode = os.getenv("BENCH_MODE")
local key = os.getenv("BENCH_KEY")
local client = os.getenv("BENCH_CLIENT")
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end

local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end

function init(args)
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
  math.randomseed(os.time() * 100 + tid)
  n = 0
end

function request()
  n = n + 1
  local id = ids[math.random(#ids)]
  local idem = string.format("wrk-%s-%d-%d", run, tid, n)
  if mode == "native" then
    return wrk.format("POST", "/api/v1/accounts/" .. id .. "/adjustments", {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = idem,
    }, '{"reason": "REWARD", "points": 1}')
  elseif mode == "square" then
    return wrk.format("POST", "/v2/loyalty/accounts/" .. id .. "/adjust", {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/json",
    }, '{"idempotency_key": "' .. idem .. '", "adjust_points": {"points": 1, "reason": "bench"}}')
  else
    return wrk.format("POST", "/bench/bare/" .. id .. "/adjust", {
      ["Content-Type"] = "application/json",
      ["X-Bench-Client"] = client,
    }, '{"points": 1}')
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"rps": %.2f, "requests": %d, "errors": %d, "non_2xx": %d, "p50": %.3f, "p95": %.3f, "p99": %.3f, "mean": %.3f}\n',
    summary.requests / (summary.duration / 1e6), summary.requests, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000))
end
