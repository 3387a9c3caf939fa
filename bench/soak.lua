-- wrk script of bench/soak: a mix of request kinds, a status histogram per kind.
--
--   SOAK_SPEC=spec.tsv SOAK_JWT_FILE=jwt.txt SOAK_QUOTA=500000 SOAK_OUT=counts.txt \
--     wrk -t2 -c32 -d600s -s bench/soak.lua http://127.0.0.1:PORT
--
-- spec.tsv, one request template per line, tab-separated:
--   WEIGHT  KIND  PATH  [Header: value]...
-- A header field "@jwt" stands for "Authorization: Bearer <a token of SOAK_JWT_FILE>",
-- "@badjwt" for the same token with its signature changed. SOAK_JWT_FILE holds one
-- token per line and is re-read every 256 requests of a thread: bench/soak rewrites
-- it when the JWKS key rotates. Templates are interleaved by weight.
--
-- Every request carries "X-Soak-Kind: KIND", which the nginx under test echoes as
-- X-Kind (add_header ... always), so response() can attribute each status to its
-- kind. Each thread stops after SOAK_QUOTA responses and leaves a mark file
-- SOAK_OUT.done<N> (wrk itself sleeps for -d: bench/soak sends it SIGINT once every
-- thread is done); done() writes "KIND STATUS COUNT" lines to SOAK_OUT.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function split(s, sep)
  local out = {}
  for part in string.gmatch(s, "([^" .. sep .. "]+)") do
    out[#out + 1] = part
  end
  return out
end

local function read_all(file)
  local f = io.open(file, "r")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

-- The same token with 4 characters in the middle of its signature changed.
local function tamper(token)
  local sig = token:find("%.[^.]*$")
  local at = sig + 20
  local old = token:sub(at, at + 3)
  local new = (old == "AAAA") and "BBBB" or "AAAA"
  return token:sub(1, at - 1) .. new .. token:sub(at + 4)
end

local templates = {}
local cycle = {}
local pos = 0
local jwt_text = ""
local jwt_tokens = {}
local jwt_next = 0
local since_reload = 0

local function reload_jwt()
  local text = read_all(jwt_file)
  if not text or text == jwt_text or text == "" then
    return
  end
  local tokens = split(text, "\n")
  if #tokens == 0 then
    return
  end
  jwt_text = text
  jwt_tokens = tokens
end

function init(args)
  quota = tonumber(os.getenv("SOAK_QUOTA") or "0")
  jwt_file = os.getenv("SOAK_JWT_FILE")
  counts = {}
  answered = 0
  for line in io.lines(os.getenv("SOAK_SPEC")) do
    local f = split(line, "\t")
    local t = { weight = tonumber(f[1]), kind = f[2], path = f[3], headers = { ["X-Soak-Kind"] = f[2] } }
    for i = 4, #f do
      if f[i] == "@jwt" or f[i] == "@badjwt" then
        t.jwt = f[i]
      else
        local name, value = f[i]:match("^([^:]+):%s*(.*)$")
        t.headers[name] = value
      end
    end
    if not t.jwt then
      t.req = wrk.format("GET", t.path, t.headers)
    end
    templates[#templates + 1] = t
  end
  -- interleave by weight: one pass takes each template while it has weight left
  local left = {}
  for i, t in ipairs(templates) do
    left[i] = t.weight
  end
  local more = true
  while more do
    more = false
    for i, t in ipairs(templates) do
      if left[i] > 0 then
        cycle[#cycle + 1] = t
        left[i] = left[i] - 1
        more = true
      end
    end
  end
  pos = (tid or 1) * 7 % #cycle
  if jwt_file then
    reload_jwt()
  end
end

function request()
  since_reload = since_reload + 1
  if jwt_file and since_reload >= 256 then
    since_reload = 0
    reload_jwt()
  end
  pos = pos % #cycle + 1
  local t = cycle[pos]
  if t.req then
    return t.req
  end
  jwt_next = jwt_next % #jwt_tokens + 1
  local token = jwt_tokens[jwt_next]
  if t.jwt == "@badjwt" then
    token = tamper(token)
  end
  t.headers["Authorization"] = "Bearer " .. token
  return wrk.format("GET", t.path, t.headers)
end

function response(status, headers, body)
  local key = (headers["X-Kind"] or "?") .. " " .. status
  counts[key] = (counts[key] or 0) + 1
  answered = answered + 1
  if quota > 0 and answered >= quota and not stopped then
    stopped = true
    local mark = io.open(os.getenv("SOAK_OUT") .. ".done" .. tid, "w")
    mark:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, n in pairs(c) do
      total[k] = (total[k] or 0) + n
    end
  end
  local out = io.open(os.getenv("SOAK_OUT"), "w")
  for k, n in pairs(total) do
    out:write(k .. " " .. n .. "\n")
  end
  out:write("latency_p50_us " .. latency:percentile(50) .. "\n")
  out:write("latency_p99_us " .. latency:percentile(99) .. "\n")
  out:write("latency_max_us " .. latency.max .. "\n")
  out:write("errors_connect " .. summary.errors.connect .. "\n")
  out:write("errors_read " .. summary.errors.read .. "\n")
  out:write("errors_write " .. summary.errors.write .. "\n")
  out:write("errors_timeout " .. summary.errors.timeout .. "\n")
  out:write("errors_status " .. summary.errors.status .. "\n")
  out:write("requests " .. summary.requests .. "\n")
  out:write("duration_us " .. summary.duration .. "\n")
  out:close()
end
