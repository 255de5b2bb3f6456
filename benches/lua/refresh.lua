-- POST token endpoint, grant_type=refresh_token, with rotation: a pool of refresh-token chains
-- per thread; each request takes a chain's current token, and the answer's new refresh_token goes
-- back to the pool, so no token is ever presented twice (presenting a rotated one would revoke
-- its whole family). A failed refresh loses its chain.
-- usage: wrk -tT -cC ... -s lua/refresh.lua URL -- RT_FILE T
-- Needs more chains per thread than connections per thread (benches/run mints plenty); if the
-- pool runs dry the thread stops and `exhausted` says so.
-- (From peers/oidc-provider/lua/refresh.lua; the path and credentials come from the environment.)
dofile("lua/common.lua")

local pool = {}

function init(args)
  pool = my_lines(args[1], tonumber(args[2] or "1"))
end

function request()
  local rt = table.remove(pool)
  if rt == nil then
    exhausted = 1
    wrk.thread:stop()
    rt = "exhausted"
  end
  return wrk.format("POST", TOKEN_PATH, form_headers(), "grant_type=refresh_token&refresh_token=" .. rt)
end

function response(status, headers, body)
  local rt = status == 200 and body:match('"refresh_token":%s*"([^"]+)"')
  if rt then
    table.insert(pool, rt)
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
