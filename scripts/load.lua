-- wrk script for scripts/load: one operation per run (MODE), or a weighted mix (MODE=mixed).
-- Each thread takes its own share of the lines of FILE (ids or "person need" pairs), cycling.
-- Env: MODE, FILE, TOKEN (the caller), PROJECT (aid records), TODAY (aid records).
local mode = os.getenv("MODE")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local lines = {}
local pos = 0
local token, project, today, care_token

function init(args)
  local n = 0
  local file = os.getenv("FILE")
  local nthreads = tonumber(os.getenv("THREADS") or "2")
  if file and file ~= "" then
    for line in io.lines(file) do
      if n % nthreads == tid then table.insert(lines, line) end
      n = n + 1
    end
  end
  token = os.getenv("TOKEN")
  care_token = os.getenv("CARE_TOKEN")
  project = os.getenv("PROJECT")
  today = os.getenv("TODAY")
end

local function next_line()
  pos = pos + 1
  if pos > #lines then pos = 1 end
  return lines[pos]
end

local function auth(t)
  return { ["Authorization"] = "Bearer " .. t, ["Content-Type"] = "application/json" }
end

local ops = {}
ops.get_referral = function() return wrk.format("GET", "/api/v1/referrals/" .. next_line(), auth(token)) end
ops.list_received = function() return wrk.format("GET", "/api/v1/referrals?direction=received&limit=20", auth(token)) end
ops.lookup = function()
  return wrk.format("POST", "/api/v1/persons/lookup", auth(token), '{"id_number":"' .. next_line() .. '"}')
end
ops.matches = function() return wrk.format("GET", "/api/v1/needs/" .. next_line() .. "/matches", auth(token)) end
ops.public_projects = function() return wrk.format("GET", "/api/v1/public/projects?region=2301&limit=20", {}) end
ops.create_referral = function()
  local person, need, target = next_line():match("(%S+) (%S+) (%S+)")
  return wrk.format("POST", "/api/v1/referrals", auth(token),
    '{"person_id":"' .. person .. '","need_ids":["' .. need .. '"],"target":{"organization_id":"'
    .. target .. '"},"urgency":"normal"}')
end
ops.accept = function() return wrk.format("POST", "/api/v1/referrals/" .. next_line() .. "/accept", auth(token), "{}") end
ops.start = function() return wrk.format("POST", "/api/v1/referrals/" .. next_line() .. "/start", auth(token), "{}") end
ops.complete = function()
  return wrk.format("POST", "/api/v1/referrals/" .. next_line() .. "/complete", auth(token), '{"outcome":"got_help"}')
end
ops.aid_record = function()
  return wrk.format("POST", "/api/v1/aid-records", auth(token),
    '{"person_id":"' .. next_line() .. '","project_id":"' .. project
    .. '","category":"living","form":"in_kind","value_fen":20000,"aid_on":"' .. today .. '"}')
end

-- The mix: what a district's systems and portals do in a day, reads far above writes.
local mix = {}
local function weigh(op, w) for _ = 1, w do table.insert(mix, op) end end
ops.mixed = function()
  local pick = mix[math.random(#mix)]
  return pick()
end

function request()
  return ops[mode]()
end

if mode == "mixed" then
  -- Lines: "referral_id need_id id_number" of the bureau; the public list needs none.
  local function field(i)
    local line = next_line()
    local f = {}
    for w in line:gmatch("%S+") do table.insert(f, w) end
    return f[i]
  end
  weigh(function() return wrk.format("GET", "/api/v1/referrals/" .. field(1), auth(token)) end, 35)
  weigh(function() return wrk.format("GET", "/api/v1/referrals?direction=received&limit=20", auth(care_token)) end, 15)
  weigh(function()
    return wrk.format("POST", "/api/v1/persons/lookup", auth(token), '{"id_number":"' .. field(3) .. '"}')
  end, 15)
  weigh(function() return wrk.format("GET", "/api/v1/needs/" .. field(2) .. "/matches", auth(token)) end, 10)
  weigh(function() return wrk.format("GET", "/api/v1/public/projects?region=2301&limit=20", {}) end, 25)
end

-- Throughput counts answered requests with a 2xx/3xx status only; the latencies are wrk's, over
-- all answers (a step that ran out of rows shows its repeats as non-2xx).
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d %d\n",
    (summary.requests - summary.errors.status) / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
