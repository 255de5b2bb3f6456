-- Full authorization-code round trip as a browser + client app does it with a live session and
-- remembered consent: GET authorization endpoint (session cookie) -> 302/303 to the redirect URI
-- with a code -> POST token endpoint (code + PKCE verifier). `units` counts completed
-- authorizations (token 200s); requests/s and latencies are over both kinds of request.
-- usage: wrk -tT -cC ... -s lua/roundtrip.lua URL -- SESSIONS_FILE T [SCOPE_ENC]
-- SESSIONS_FILE lines: "cookie-header verifier challenge", one signed-in session each; needs
-- more sessions per thread than connections per thread.
-- (From peers/oidc-provider/lua/roundtrip.lua; paths, client id and credentials come from the
-- environment.)
dofile("lua/common.lua")

local sessions, free, pending = {}, {}, {}
local scope = "claims%3Aread%20claims%3Awrite"

function init(args)
  for _, line in ipairs(my_lines(args[1], tonumber(args[2] or "1"))) do
    local f = split(line)
    table.insert(sessions, { cookie = f[1], verifier = f[2], challenge = f[3] })
    table.insert(free, #sessions)
  end
  if args[3] then scope = args[3] end
end

function request()
  local p = table.remove(pending, 1)
  if p then
    return wrk.format("POST", TOKEN_PATH, form_headers(),
      "grant_type=authorization_code&code=" .. p.code .. "&redirect_uri=" .. REDIRECT_URI_ENC ..
      "&code_verifier=" .. sessions[p.s].verifier)
  end
  local s = table.remove(free)
  if s == nil then
    exhausted = 1
    wrk.thread:stop()
    s = 1
  end
  local x = sessions[s]
  return wrk.format("GET",
    AUTH_PATH .. "?client_id=" .. CLIENT_ID .. "&response_type=code&redirect_uri=" .. REDIRECT_URI_ENC ..
    "&scope=" .. scope .. "&state=" .. s .. "&code_challenge=" .. x.challenge ..
    "&code_challenge_method=S256", { ["Cookie"] = x.cookie })
end

function response(status, headers, body)
  if status == 303 or status == 302 then
    local loc = headers["Location"] or headers["location"] or ""
    local code = loc:match("[?&]code=([^&]+)")
    local s = tonumber(loc:match("[?&]state=(%d+)") or "")
    -- The session goes back to the pool whenever the answer names it, even with an error.
    if s and sessions[s] then table.insert(free, s) end
    if code and s and sessions[s] then
      table.insert(pending, { code = code, s = s })
      ok = ok + 1
    else
      bad = bad + 1
    end
  elseif status == 200 and body:find('"access_token"', 1, true) then
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
