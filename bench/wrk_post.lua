-- wrk script for bench/e2e.py: exactly QUOTA form POSTs with unique emails.
-- Usage: wrk -t1 -cC -dMAXs -s bench/wrk_post.lua URL -- PREFIX QUOTA
-- The thread sends QUOTA POSTs, then only cheap GET /healthz probes until every POST
-- is answered, then stops its loop (so in-flight extras never create leads and
-- nothing keeps the CPU busy). wrk 4.x still waits for -d or SIGINT before it
-- exits; the harness sends SIGINT once the leads are in the store. done() prints
-- one line "WRKJSON {...}" for the harness to parse. Use one thread (-t1).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

prefix = "t"
quota = 1000
sent = 0
answered = 0
accepted = 0
failed = 0
-- wrk 4.x calls request() once on the first thread's state to check the request
-- it builds; that request is never sent, so it must not count.
verifying = true
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local probe = nil

function init(args)
  prefix = args[1] or prefix
  quota = tonumber(args[2]) or quota
  probe = wrk.format("GET", "/healthz")
end

-- A distinct client address per POST (the harness trusts loopback as a proxy): one
-- address posting thousands of forms is a flood to the spam rules.
local function post(n)
  local body = "name=Bench+User&email=" .. prefix .. "-" .. n ..
    "%40bench.test&message=Hello+from+the+benchmark"
  local i = tonumber(n) or 0
  headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(i / 62500) % 250,
    math.floor(i / 250) % 250, i % 250 + 1)
  return wrk.format("POST", nil, headers, body)
end

function request()
  if verifying then
    verifying = false
    return post("verify")
  end
  if sent < quota then
    sent = sent + 1
    return post(sent)
  end
  return probe
end

function response(status, hdrs, body)
  -- POSTs answer 202 (or an error); the /healthz probes answer 200.
  if status ~= 200 then
    answered = answered + 1
    if status == 202 then
      accepted = accepted + 1
    else
      failed = failed + 1
    end
  end
  if answered >= quota then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local acc, fail, n = 0, 0, 0
  for _, t in ipairs(threads) do
    acc = acc + t:get("accepted")
    fail = fail + t:get("failed")
    n = n + t:get("sent")
  end
  io.write(string.format(
    'WRKJSON {"posts_sent": %d, "accepted": %d, "failed": %d, "duration_us": %d, ' ..
    '"requests": %d, "socket_errors": %d, "latency_p50_us": %d, "latency_p99_us": %d}\n',
    n, acc, fail, summary.duration, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
