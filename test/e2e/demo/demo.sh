#!/usr/bin/env bash
# vigil end to end with Docker Compose: Envoy → vigil (Redis) → a demo upstream, Prometheus, Grafana.
#
#   bash test/e2e/demo/demo.sh            # build, start, wait until healthy, play the traffic
#   bash test/e2e/demo/demo.sh --no-up    # the stack is already running: only play the traffic
#   bash test/e2e/demo/demo.sh --down     # ... and stop the stack at the end (docker compose down)
#
# Needs Docker with the compose plugin (v2.1+ for --wait) and curl; jq is used when present.
# Not part of `npm test` or .ci/run (it needs a Docker engine). See README.md beside this script.
set -euo pipefail
cd "$(dirname "$0")/../../.."

UP=1
DOWN=0
for arg in "$@"; do
  case "$arg" in
    --no-up) UP=0 ;;
    --down) DOWN=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $arg" >&2; exit 2 ;;
  esac
done

ENVOY=http://127.0.0.1:8080
VIGIL_ADMIN=http://127.0.0.1:9464
PROMETHEUS=http://127.0.0.1:9090
GRAFANA=http://127.0.0.1:3000
# DEMO VALUE, the same as in docker-compose.yml.
ADMIN_TOKEN=demo-only-admin-token-change-me

for cmd in docker curl; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "demo: $cmd is required" >&2; exit 2; }
done
docker compose version >/dev/null 2>&1 || { echo "demo: the docker compose plugin is required" >&2; exit 2; }

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
missed=()
expect() { # expect DESCRIPTION COUNT: COUNT must be > 0
  if [ "${2:-0}" -gt 0 ] 2>/dev/null; then echo "  ✔ $1 ($2)"; else echo "  ✘ $1: none"; missed+=("$1"); fi
}

# One request through Envoy; prints its status, labelled when vigil answered it.
req() {
  local hdrs code
  hdrs=$(curl -sS --max-time 5 -o /dev/null -D - "$@" 2>/dev/null || true)
  code=$(printf '%s\n' "$hdrs" | awk 'NR==1 {print $2}')
  if printf '%s' "$hdrs" | grep -qi 'insufficient_user_authentication'; then
    echo "${code} MFA step-up (vigil challenge)"
  elif [ "$code" = 429 ]; then
    echo "429 throttled (vigil)"
  elif [ "$code" = 403 ] && printf '%s' "$hdrs" | grep -qi '^x-vigil'; then
    echo "403 blocked (vigil)"
  elif [ -z "$code" ]; then
    echo "no answer"
  else
    echo "$code from the upstream"
  fi
}
tally() { sort | uniq -c | sort -rn | sed 's/^/    /'; }
count() { grep -c -- "$1" <<<"$2" || true; }
login() { # login USERNAME [curl args…]: a JSON login; the echo upstream answers 401 when asked to
  local user=$1
  shift
  req -X POST -H 'content-type: application/json' -d "{\"username\":\"${user}\",\"password\":\"hunter2\"}" "$@" "$ENVOY/login"
}

if [ "$UP" = 1 ]; then
  section "Building and starting the stack (docker compose up -d --build --wait)"
  if ! docker compose up -d --build --wait; then
    docker compose ps
    docker compose logs --tail 30
    echo "demo: the stack did not become healthy" >&2
    exit 1
  fi
fi
docker compose ps

# Envoy is healthy once its admin says LIVE; wait until a request really makes it through.
for _ in $(seq 1 30); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ENVOY/" || true)" = 200 ] && break
  sleep 1
done

section "Starting from a clean slate (FLUSHALL on the demo Redis: penalties of earlier runs last up to 1 h)"
docker compose exec -T redis redis-cli FLUSHALL

section "1. Normal traffic: a shop front end reading orders, three users logging in"
normal=$({
  for i in $(seq 1 20); do req -H 'x-api-key: demo-shop-frontend' "$ENVOY/api/orders/$((1000 + i))"; done
  for u in alice bob carol; do login "$u"; done
})
tally <<<"$normal"
expect "normal requests allowed" "$(count 'from the upstream' "$normal")"
[ "$(count vigil "$normal")" = 0 ] || { echo "  ✘ vigil answered normal traffic"; missed+=("normal traffic untouched"); }

section "2. A flood from one API key: 400 requests in a few seconds (rate-baseline → 429)"
flood=$(for _ in $(seq 1 400); do req -H 'x-api-key: flood-bot' "$ENVOY/api/orders/42"; done)
tally <<<"$flood"
expect "flood throttled" "$(count '429' "$flood")"
echo "  one throttled reply's headers:"
curl -sS -o /dev/null -D - -H 'x-api-key: flood-bot' "$ENVOY/api/orders/42" | grep -iE '^(HTTP/|retry-after|ratelimit)' | sed 's/^/    /' || true

section "3. Password guessing on one account: 56 failed logins for victim@example.com (slow-brute-force per account → MFA step-up 401)"
# The guesser rotates six API keys, so no single caller passes the per-caller budget (50 failures),
# and real users keep logging in from the same address (everything from the host reaches Envoy from
# one Docker gateway address), which keeps that address's failure ratio under the 80 % of the
# credential-stuffing detector. What adds up is the account's own failures: past 50 its logins are
# challenged, the owner's included, instead of being locked out.
guess=$(for i in $(seq 1 56); do
  login victim@example.com -H "x-api-key: guesser-$((i % 6))" -H 'x-set-response-status-code: 401' | sed 's/^/guesser: /'
  if [ $((i % 3)) = 0 ]; then login alice | sed 's/^/alice:   /'; fi
done)
tally <<<"$guess"
expect "the attacked account is stepped up to MFA" "$(count 'MFA step-up' "$guess")"
expect "other users still log in" "$(count 'alice:   200' "$guess")"
echo "  the account's owner now logging in:"
curl -sS -o /dev/null -D - -X POST -H 'content-type: application/json' \
  -d '{"username":"victim@example.com","password":"correct horse"}' "$ENVOY/login" | grep -iE '^(HTTP/|www-authenticate)' | sed 's/^/    /' || true

section "4. Credential stuffing: 60 different usernames from one address (credential-stuffing, brute-force-per-caller → 429)"
stuffing=$(for i in $(seq -w 1 60); do login "user${i}@example.com" -H 'x-set-response-status-code: 401'; done)
tally <<<"$stuffing"
expect "credential stuffing throttled" "$(count '429' "$stuffing")"

section "Why: the first decision of each detector that fired (vigil's decision log)"
decisions=$(docker compose logs --no-log-prefix vigil 2>/dev/null | grep '"msg":"decision"' || true)
for d in request-rate brute-force-per-account stuffing-per-ip brute-force-per-caller; do
  line=$(grep -m 1 "\"detector\":\"${d}\"" <<<"$decisions" || true)
  [ -n "$line" ] || continue
  if command -v jq >/dev/null 2>&1; then
    jq -c '{action, identity: .identity.id, endpoint, reasons: [.reasons[] | {detector, signal, value, threshold}], retryAfterS}' <<<"$line" | sed 's/^/  /'
  else
    echo "  ${line:0:600}"
  fi
done

section "Penalties in force (operator API, demo token)"
curl -sS -H "authorization: Bearer ${ADMIN_TOKEN}" "$VIGIL_ADMIN/admin/penalties?limit=10" | cut -c1-1200 || true
echo

section "Prometheus: vigil_decisions_total by action"
sleep 12 # two scrape intervals
query='sum by (action) (vigil_decisions_total)'
result=$(curl -sS -G "$PROMETHEUS/api/v1/query" --data-urlencode "query=${query}" || true)
echo "  ${query}"
if command -v jq >/dev/null 2>&1; then
  jq -r '.data.result[] | "    \(.metric.action)\t\(.value[1])"' <<<"$result"
else
  echo "    $result"
fi
action_total() { # the value for one action, 0 when absent
  curl -sS -G "$PROMETHEUS/api/v1/query" --data-urlencode "query=sum(vigil_decisions_total{action=\"$1\"}) or vector(0)" |
    grep -o '"value":\[[^]]*\]' | sed 's/.*,"\([0-9.e+]*\)"\]/\1/' | cut -d. -f1 || true
}
expect "Prometheus counted throttle decisions" "$(action_total throttle)"
expect "Prometheus counted challenge decisions" "$(action_total challenge)"

section "Look around"
echo "  Grafana (anonymous viewer; the vigil dashboard is the home page): ${GRAFANA}"
echo "  Prometheus: ${PROMETHEUS}/graph?g0.expr=sum%20by%20(action)%20(rate(vigil_decisions_total%5B1m%5D))"
echo "  vigil admin: ${VIGIL_ADMIN}/metrics  ${VIGIL_ADMIN}/debug/policy"
echo "  Edit policy/default.yaml: vigil reloads it within seconds (docker compose logs -f vigil)."

if [ "$DOWN" = 1 ]; then
  section "Stopping the stack"
  docker compose down
else
  echo "  Stop it with: docker compose down"
fi

if [ "${#missed[@]}" -gt 0 ]; then
  printf '\ndemo: expected but not seen: %s\n' "${missed[*]}" >&2
  echo "demo: see test/e2e/demo/README.md (Troubleshooting)" >&2
  exit 1
fi
printf '\ndemo: every expectation met\n'
