#!/usr/bin/env bash
# The Model Runner Dashboard API's end-to-end example (seed 002_1a16ef3849cf5c58.txt, "End-to-End Example"),
# run against runplane. Its four steps are the seed's own lines with two changes only: every curl carries
# the X-API-Key header runplane requires, and the base URL comes from BASE_URL instead of
# http://localhost:8000. Around them: a deadline on the polling loop, and an exit status (0 only when the
# run succeeded and its results came back).
#
#   BASE_URL=http://127.0.0.1:9101 API_KEY=rp_... tests/integration/model_runner_e2e.sh
#
# POLL_SECONDS (default 2, as in the seed) and TIMEOUT_SECONDS (default 300) tune the polling. Without jq
# (or with RUNPLANE_E2E_NO_JQ=1) the two jq forms the script uses are done by python3 instead.
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:8000}"
API_KEY="${API_KEY:?set API_KEY to a runplane user key}"
POLL_SECONDS="${POLL_SECONDS:-2}"
TIMEOUT_SECONDS="${TIMEOUT_SECONDS:-300}"

if [ -n "${RUNPLANE_E2E_NO_JQ:-}" ] || ! command -v jq >/dev/null 2>&1; then
  # `jq` (pretty-print) and `jq -r '.field'` (one top-level field, strings raw): all the script needs.
  jq() {
    if [ "$#" -eq 0 ]; then
      python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=2))'
    elif [ "$#" -eq 2 ] && [ "$1" = "-r" ]; then
      python3 -c '
import json, sys
value = json.load(sys.stdin).get(sys.argv[1].lstrip("."))
print(value if isinstance(value, str) else json.dumps(value))' "$2"
    else
      echo "jq fallback: unsupported arguments: $*" >&2
      return 2
    fi
  }
fi

DEADLINE=$(( $(date +%s) + TIMEOUT_SECONDS ))

# 1) List models
curl -s -H "X-API-Key: $API_KEY" $BASE_URL/api/models | jq

# 2) Submit a run
RUN_ID=$(curl -s -H "X-API-Key: $API_KEY" -X POST $BASE_URL/api/runs \
  -H 'Content-Type: application/json' \
  -d '{"model_id":"linear_reg","inputs":{"region":"NA","year":2024,"parameter_set":"baseline"}}' \
  | jq -r '.run_id')
echo "run_id=$RUN_ID"
if [ -z "$RUN_ID" ] || [ "$RUN_ID" = "null" ]; then
  echo "the run was not submitted" >&2
  exit 1
fi

# 3) Poll status until succeeded
until STATUS=$(curl -s -H "X-API-Key: $API_KEY" $BASE_URL/api/runs/$RUN_ID/status | jq -r '.status'); \
      [ "$STATUS" = "succeeded" ] || [ "$STATUS" = "failed" ]; do
  curl -s -H "X-API-Key: $API_KEY" $BASE_URL/api/runs/$RUN_ID/status | jq
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    echo "run $RUN_ID still '$STATUS' after ${TIMEOUT_SECONDS}s" >&2
    exit 1
  fi
  sleep "$POLL_SECONDS"
done

# 4) Fetch results (if succeeded)
curl -s -H "X-API-Key: $API_KEY" $BASE_URL/api/runs/$RUN_ID/results | jq

echo "status=$STATUS"
[ "$STATUS" = "succeeded" ]
