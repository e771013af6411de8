-- wrk script: replays pre-signed requests from a file, each thread its own share, in order.
-- File format, per request: "<Stripe-Signature>\n<body length>\n<body bytes>".
-- Usage: wrk -s bench/replay.lua <url> -- <file> <path> <threads> [<start>]
-- <start>: how many requests each thread skips (a later round goes on where one stopped).
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local path = args[2]
  requests, index, n = {}, 0, 0
  local i = 0
  while true do
    local sig = file:read("l")
    if not sig then break end
    local len = tonumber(file:read("l"))
    local body = file:read(len)
    if i % tonumber(args[3]) == tid then
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Stripe-Signature"] = sig}, body)
    end
    i = i + 1
  end
  file:close()
  index = tonumber(args[4] or "0") % #requests
end

function request()
  index = index % #requests + 1
  return requests[index]
end
