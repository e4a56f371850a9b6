-- wrk script for scripts/bench's no-cache JWT scenario: every request carries the next token
-- of a pool (the file named by BENCH_TOKENS), so a verified-token cache cannot help. The request
-- path is the one in the URL given to wrk.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
-- Start at a random place, so warm-ups and rounds do not replay the same tokens in order.
math.randomseed(os.time())
local next_index = math.random(#tokens)

request = function()
  next_index = next_index % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[next_index] })
end
