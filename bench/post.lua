-- wrk script: the same POST every time. Usage: wrk -s bench/post.lua <url> -- <path> <body> <token>
function init(args)
  request_bytes = wrk.format("POST", args[1], {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. args[3]}, args[2])
end

function request()
  return request_bytes
end
