-- GET /v1/check with `Authorization: Bearer <token>` (and `X-Required-Scope` when given), cycling
-- through a file of tokens so that the server's look-ups are spread over many rows.
-- usage: wrk -tT ... -s lua/check.lua http://127.0.0.1:8180/v1/check -- TOKENS_FILE T EXPECT [SCOPE]
-- EXPECT is the status the test expects (200 for live tokens, 401 for revoked ones): answers with
-- that status are ok, anything else is bad.
dofile("lua/common.lua")

local reqs, i, expect = {}, 0, 200

function init(args)
  expect = tonumber(args[3] or "200")
  local scope = args[4]
  -- Requests are formatted once here, so wrk does the same little work per request as for
  -- the static /healthz request.
  for _, token in ipairs(my_lines(args[1], tonumber(args[2] or "1"))) do
    local h = { ["Authorization"] = "Bearer " .. token }
    if scope and scope ~= "" then h["X-Required-Scope"] = scope end
    table.insert(reqs, wrk.format("GET", CHECK_PATH, h))
  end
  assert(#reqs > 0, "no tokens for this thread in " .. args[1])
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function response(status, headers, body)
  if status == expect then
    ok = ok + 1
    units = units + 1
  else
    bad = bad + 1
  end
end
