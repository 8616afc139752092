-- wrk: the write mix, in turn: registerCustomer (a new email each time), placeOrder as
-- a guest, addShippingAddress for one of the customers in BENCH_TOKENS (a file with a
-- token per line; each customer takes at most 50 addresses, so the bench registers
-- enough of them). Prints the same JSON line as post.lua; every answer is read, and one
-- with GraphQL errors counts in "graphql_errors".
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

n = 0
local function json(query, variables)
  return '{"query": "' .. query .. '", "variables": ' .. variables .. '}'
end

function request()
  n = n + 1
  local tag = string.format("%d-%d-%d", thread_id, n, os.time())
  local headers = { ["Content-Type"] = "application/json" }
  local kind = n % 3
  local body
  if kind == 0 then
    body = json("mutation R($e: String!) { registerCustomer(email: $e, password: \\\"bench password 1\\\") { token } }",
      '{"e": "bench-' .. tag .. '@example.com"}')
  elseif kind == 1 then
    body = json("mutation O($e: String) { placeOrder(input: { email: $e, currencyCode: \\\"EUR\\\", lineItems: [{ title: \\\"Tea\\\", quantity: 2, unitPrice: 450 }], shippingAddress: { countryCode: \\\"DE\\\", city: \\\"Berlin\\\" } }) { id total { amount } } }",
      '{"e": "guest-' .. tag .. '@example.com"}')
  else
    headers["Authorization"] = "Bearer " .. tokens[(n + thread_id * 7) % #tokens + 1]
    body = json("mutation { addShippingAddress(input: { countryCode: \\\"FR\\\", city: \\\"Lyon\\\", address1: \\\"1 Rue\\\" }) { id } }", "{}")
  end
  return wrk.format("POST", nil, headers, body)
end

graphql_errors = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local errors = 0
  for _, thread in ipairs(threads) do
    errors = errors + thread:get("graphql_errors")
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "socket_errors": %d, "non_2xx": %d, "graphql_errors": %d}\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, errors))
end
