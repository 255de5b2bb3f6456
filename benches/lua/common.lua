-- Shared by benches/lua/*.lua (wrk scripts; run with the benches/ folder as working directory).
-- Adapted from peers/oidc-provider/lua/common.lua so that Tessera and the peer are driven by the
-- same scripts: what differs between the two servers comes from the environment, set by
-- benches/run (defaults are the peer's values).
--   BENCH_BASIC            Authorization header value for client_secret_basic
--   BENCH_CLIENT_ID        public client id (authorization requests)
--   BENCH_TOKEN_PATH       token endpoint path            (peer /token,               Tessera /oauth/token)
--   BENCH_AUTH_PATH        authorization endpoint path    (peer /auth,                Tessera /oauth/authorize)
--   BENCH_INTROSPECT_PATH  introspection endpoint path    (peer /token/introspection, Tessera /oauth/introspect)
--   BENCH_CHECK_PATH       gateway check path             (Tessera /v1/check)
BASIC = os.getenv("BENCH_BASIC")
  or "Basic YmVuY2gtY2xpZW50OmJlbmNoLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="
CLIENT_ID = os.getenv("BENCH_CLIENT_ID") or "bench-client"
TOKEN_PATH = os.getenv("BENCH_TOKEN_PATH") or "/token"
AUTH_PATH = os.getenv("BENCH_AUTH_PATH") or "/auth"
INTROSPECT_PATH = os.getenv("BENCH_INTROSPECT_PATH") or "/token/introspection"
CHECK_PATH = os.getenv("BENCH_CHECK_PATH") or "/v1/check"
REDIRECT_URI_ENC = "http%3A%2F%2F127.0.0.1%3A9999%2Fcb"

-- Headers of a form POST with client_secret_basic (a fresh table each time: wrk.format adds
-- Host and Content-Length to the table it is given).
function form_headers()
  return { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = BASIC }
end

-- Per-thread counters (globals in each thread's Lua state, read back in done()).
-- ok = answers that were what the test expects, bad = any other answer (socket errors are
-- counted by wrk itself), units = completed units of work (token responses, authorizations).
ok, bad, units, exhausted = 0, 0, 0, 0

threads = {}
local created = 0
function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

-- Reads the lines of `file` that belong to thread `tid` of `nthreads` (round-robin split).
function my_lines(file, nthreads)
  local out, k = {}, 0
  for line in io.lines(file) do
    if line ~= "" then
      if k % nthreads == tid then table.insert(out, line) end
      k = k + 1
    end
  end
  return out
end

function split(line)
  local t = {}
  for w in line:gmatch("%S+") do table.insert(t, w) end
  return t
end

-- One machine-readable line for benches/run, after wrk's own report.
function done(summary, latency, requests)
  local s_ok, s_bad, s_units, s_exh = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s_ok = s_ok + (t:get("ok") or 0)
    s_bad = s_bad + (t:get("bad") or 0)
    s_units = s_units + (t:get("units") or 0)
    s_exh = s_exh + (t:get("exhausted") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f " ..
    "ok=%d bad=%d units=%d units_per_s=%.1f exhausted=%d non2xx3xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000,
    s_ok, s_bad, s_units, s_units / secs, s_exh, e.status, e.connect, e.read, e.write, e.timeout))
end
