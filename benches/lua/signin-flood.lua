-- A password-guessing load: POST /oauth/login with wrong passwords, as fast as the connections
-- allow. The anti-forgery cookie and field are a matching pair the script makes up (the form's
-- check is double-submit), so no page is fetched first.
-- usage: wrk -t1 -cC -dDs -s lua/signin-flood.lua http://127.0.0.1:8180/oauth/login -- USER
--   USER: the one username guessed at, or "random" for a new username on every attempt (every
--   attempt then reaches argon2 unless the per-address limit stops it).
-- Counts 401 (wrong password) and 429 (limited) as ok: both are the answers a guesser gets.
dofile("lua/common.lua")

local user_mode = "bench-user"
local n = 0

function init(args)
  user_mode = args[1] or user_mode
end

function request()
  n = n + 1
  local user = user_mode
  if user_mode == "random" then user = "guess" .. tid .. "n" .. n end
  local body = "username=" .. user .. "&password=wrong-guess-" .. n ..
    "&csrf_token=flood-csrf&return_to=" .. AUTH_PATH:gsub("/", "%%2F") .. "%3Fclient_id%3D" .. CLIENT_ID
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "tessera_login_csrf=flood-csrf",
  }, body)
end

function response(status, headers, body)
  if status == 401 or status == 429 then
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
