-- wrk script: POST Telegram message updates, each with a unique update_id.
--
--   wrk -s bench/wrk/gate_updates.lua URL -- BASE SECRET GROUP_IDS MEMBER_IDS
--
-- BASE        first update_id of this run; thread n (1-based) uses
--             BASE + (n - 1) * 10000000 + 1, 2, 3 ... so ids never repeat across
--             threads (10 million requests per thread and run at most).
-- SECRET      sent as X-Telegram-Bot-Api-Secret-Token ("-" for none).
-- GROUP_IDS   comma-separated chat ids of protected supergroups.
-- MEMBER_IDS  comma-separated user ids of verified members (one is picked at random).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function split(csv)
  local out = {}
  for item in string.gmatch(csv or "", "[^,]+") do
    out[#out + 1] = item
  end
  return out
end

function init(args)
  base = tonumber(args[1]) + tid * 10000000
  local secret = args[2]
  groups = split(args[3])
  members = split(args[4])
  assert(#groups > 0 and #members > 0, "need group ids and member ids")
  math.randomseed(os.time() + tid * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if secret and secret ~= "-" then
    wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = secret
  end
  now = os.time()
end

function request()
  counter = counter + 1
  local id = base + counter
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,"date":%d,' ..
      '"chat":{"id":%s,"type":"supergroup","title":"Bench group"},' ..
      '"from":{"id":%s,"is_bot":false,"first_name":"Member","language_code":"en"},' ..
      '"text":"hello, this is a benchmark message"}}',
    id, counter, now, groups[math.random(#groups)], members[math.random(#members)]
  )
  return wrk.format(nil, nil, nil, body)
end
