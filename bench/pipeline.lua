-- POST /v1/decisions pipelined, for wrk: each call writes DEPTH requests at
-- once, and the connection's next call follows when all DEPTH answers are in.
--
--   build/bench/decision-load --prefix b10k --nodes 10000 inputs --count 4096 > inputs.jsonl
--   wrk -t1 -c16 -d8s -s bench/pipeline.lua http://127.0.0.1:8082 -- inputs.jsonl 16 [TOKEN]
--
-- INPUTS holds one decision input per line; calls go through them in order,
-- DEPTH at a time, and start again from the top. TOKEN defaults to the dev
-- stack's platform-admin token. wrk reports answers other than 2xx/3xx as
-- "Non-2xx or 3xx responses"; bench/alternate_query.sh refuses a probe that
-- has any.
local calls = {}
local at = 0

function init(args)
  local path = assert(args[1], "usage: -- INPUTS DEPTH [TOKEN]")
  local depth = tonumber(args[2] or "1")
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. (args[3] or "dev-platform-admin"),
  }
  local inputs = {}
  for line in io.lines(path) do
    if #line > 0 then inputs[#inputs + 1] = line end
  end
  assert(depth >= 1 and #inputs >= depth, "DEPTH must be between 1 and the number of inputs")
  for c = 0, math.floor(#inputs / depth) - 1 do
    local requests = {}
    for k = 1, depth do
      requests[k] = wrk.format("POST", "/v1/decisions", headers, inputs[c * depth + k])
    end
    calls[c + 1] = table.concat(requests)
  end
end

function request()
  at = at % #calls + 1
  return calls[at]
end
