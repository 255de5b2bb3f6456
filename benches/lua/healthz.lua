-- GET of a fixed, trivial URL: the HTTP-stack ceiling every other figure is divided by.
-- Tessera: GET /healthz; the peer: GET /bench-healthz (a plain koa middleware in server.mjs).
-- usage: wrk -t1 -cC -dDs -s lua/healthz.lua http://127.0.0.1:8180/healthz
-- Counts a response as ok when it is a 200. (The request itself is wrk's static one.)
dofile("lua/common.lua")

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
