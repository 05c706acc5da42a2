-- bench/signed.lua: wrk script for presence-http's POST /webhook (figures 4 and 5).
--
-- wrk cannot compute SHA1, so signatures come from a pool of pre-computed
-- (nonce, signTimestamp, signature) triples, one per line of the file named by
-- the first script argument ("nonce signature", all with the same signTimestamp,
-- written by bench/run.sh).  Lines are of one length (POOL_LINE bytes), so each
-- thread reads only the entries it uses, sequentially, instead of loading the
-- whole pool (which cost more CPU than the requests themselves).  The server runs with presence.signature_max_age = 0
-- so the fixed timestamp passes the age check; everything else (SHA1 check,
-- replay binding, parse, apply) runs as in production.
--
-- Request k of thread t uses pool index idx = offset + t + k * nthreads: every
-- request of a run, and of successive runs given disjoint offsets, gets its own
-- triple, and its body is a function of the pool entry alone (a fresh single-item
-- envelope), so even a wrapped-around index would re-send the same triple with the same body
-- (a retry, accepted and de-duplicated).  done() reports wraps; run.sh sizes the
-- pool so that there are none.
--
-- Arguments (after --): POOL_FILE SIGN_TIMESTAMP OFFSET NTHREADS [RATE_PER_CONNECTION]
-- With RATE_PER_CONNECTION (requests/s), each connection waits an exponentially
-- distributed think time of mean 1/rate between its requests (figure 5).

local threads = {}
local nthreads_main = 0

function setup(thread)
   thread:set("tid", nthreads_main)
   nthreads_main = nthreads_main + 1
   table.insert(threads, thread)
end

local POOL_LINE = 50                -- "b%07d " .. 40 hex digits .. "\n"
local pool, pool_n, next_i
local ts, offset, nthreads, k, wraps

function init(args)
   pool = assert(io.open(args[1], "rb"))
   pool:setvbuf("full", 65536)
   pool_n = math.floor(pool:seek("end") / POOL_LINE)
   next_i = -1
   ts = args[2]
   offset = tonumber(args[3])
   nthreads = tonumber(args[4])
   if args[5] then
      local mean = 1000.0 / tonumber(args[5])
      function delay()
         return -math.log(1.0 - math.random()) * mean
      end
   end
   k = 0
   wraps = 0
   math.randomseed(os.time() + tid)
end

-- Pool entry i as nonce, signature: one read, then skip the other threads'
-- entries, so that the next request's entry is next in the file.
local function pool_entry(i)
   if i ~= next_i then
      pool:seek("set", i * POOL_LINE)
   end
   local line = pool:read(POOL_LINE)
   if nthreads > 1 and i + nthreads < pool_n then
      pool:read((nthreads - 1) * POOL_LINE)
   end
   next_i = i + nthreads
   return line:sub(1, 8), line:sub(10, 49)
end

local base_ms = 1750000000000
local fmt = '{"type":"user:connection_status","id":"h%d","time":%d,"data":[{"status":"%d",' ..
            '"userId":"user%d","os":"Android","time":%d,"clientIp":"10.%d.%d.2:40000",' ..
            '"sessionId":"user%d-s%d"}]}'

function request()
   local idx = offset + tid + k * nthreads
   k = k + 1
   if idx >= pool_n then
      wraps = wraps + 1
      wrk.thread:set("wraps", wraps)
   end
   local i = idx % pool_n      -- the pool entry; the body is a function of it alone
   local u = (i * 2654435761) % 100000 + 1
   local s = i % 3 + 1
   local st = math.floor(i / 3) % 3
   local t = base_ms + i
   local body = string.format(fmt, i, t, st, u, t, u % 200, s, u, s)
   local nonce, sig = pool_entry(i)
   local path = "/webhook?nonce=" .. nonce .. "&signTimestamp=" .. ts .. "&signature=" .. sig
   return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f non2xx=%d errors=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
      summary.requests, secs, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      (summary.requests - summary.errors.status) / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
   local w = 0
   for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
   io.write(string.format("RESULT_WRAPS %d\n", w))
end
