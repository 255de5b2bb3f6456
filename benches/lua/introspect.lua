-- POST to the introspection endpoint (RFC 7662, client_secret_basic), cycling through a file of
-- tokens. Counts a response as ok only when it says "active":true.
-- usage: wrk -tT ... -s lua/introspect.lua URL -- TOKENS_FILE T [TOKEN_TYPE_HINT]
-- (Adapted from peers/oidc-provider/lua/introspect.lua: many tokens instead of one, paths and
-- credentials from the environment.)
dofile("lua/common.lua")

local reqs, i = {}, 0

function init(args)
  local hint = args[3]
  for _, token in ipairs(my_lines(args[1], tonumber(args[2] or "1"))) do
    local body = "token=" .. token
    if hint and hint ~= "" then body = body .. "&token_type_hint=" .. hint end
    table.insert(reqs, wrk.format("POST", INTROSPECT_PATH, form_headers(), body))
  end
  assert(#reqs > 0, "no tokens for this thread in " .. args[1])
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function response(status, headers, body)
  if status == 200 and body:find('"active":%s*true') then
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
