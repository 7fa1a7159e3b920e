-- wrk script for bench/edge_cpu.py: web-form POSTs with unique emails, as a form
-- (urlencoded) or JSON. Usage: wrk -t1 -cC -dS -s bench/wrk_edge.lua URL -- KIND PREFIX
-- KIND is "form" or "json". Every request carries a new email and phone, so every one
-- is a new inquiry (its own idempotency key). done() prints "WRKJSON {...}".

kind = "form"
prefix = "e"
n = 0
local form_headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local json_headers = { ["Content-Type"] = "application/json" }

function init(args)
  kind = args[1] or kind
  prefix = args[2] or prefix
end

-- A different mobile number each time, as people write them: "8 (912) 345-67-89".
local function phone()
  return string.format("8 (912) %03d-%02d-%02d", n % 1000, math.floor(n / 1000) % 100,
    math.floor(n / 100000) % 100)
end

function request()
  n = n + 1
  if kind == "json" then
    local body = '{"name": "Bench User", "email": "' .. prefix .. "-" .. n ..
      '@bench.test", "phone": "' .. phone() .. '", "message": "Hello from the benchmark"}'
    return wrk.format("POST", nil, json_headers, body)
  end
  local body = "name=Bench+User&email=" .. prefix .. "-" .. n .. "%40bench.test&phone=" ..
    phone():gsub(" ", "+"):gsub("%(", "%%28"):gsub("%)", "%%29") ..
    "&message=Hello+from+the+benchmark"
  return wrk.format("POST", nil, form_headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "socket_errors": %d, ' ..
    '"latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
