-- wrk script: GET /recommend/{user}?k=10 with a random user id in [USER_MIN, USER_MAX]
-- (environment variables; defaults 0 and 6039, the ML-1M NCF user ids).
local lo = tonumber(os.getenv("USER_MIN") or "0")
local hi = tonumber(os.getenv("USER_MAX") or "6039")
local k = os.getenv("K") or "10"

function setup(thread)
  thread:set("seed", math.random(1, 2147483647))
end

function init(args)
  math.randomseed(seed or os.time())
end

request = function()
  return wrk.format("GET", "/recommend/" .. math.random(lo, hi) .. "?k=" .. k)
end
