#!/usr/bin/env bash
# The gateway's upstream over HTTPS, with the real pinned CLI: the mock API
# serves TLS with a certificate made here. With that certificate as the
# gateway's ca_file the task completes; without it the certificate is not
# trusted, nothing is answered, and the task fails naming the reason. Through
# an HTTPS proxy (https_proxy in the node's environment) the requests go by
# the proxy's CONNECT.
source "$(dirname "$0")/lib.sh"
CLI="$SRC/tests/claude-cli/node_modules/.bin/claude"
AWAIT="$PY $SRC/tests/integration/await_results.py"
[ -x "$CLI" ] || { fail "the pinned Claude Code CLI is not installed: run make test"; finish; }

tls=$(fresh_root tls)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
"$PY" "$SRC/tests/mock_api/mock_anthropic.py" --port-file "$tls/port" --log "$tls/requests.jsonl" \
  --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" &
mock_pid=$!
"$PY" "$SRC/tests/integration/connect_proxy.py" "$tls/proxy-port" "$tls/proxy.log" &
proxy_pid=$!
trap 'kill $mock_pid $proxy_pid 2>/dev/null; at_exit' EXIT
$AWAIT --timeout 20 "$tls/port" "$tls/proxy-port"
upstream="https://127.0.0.1:$(cat "$tls/port")"
unset ANTHROPIC_BASE_URL
export MARIE_KEY=sk-test-tls-marie

run_one() { # run_one <name> <gateway json> [env...]: one task; its result file
  local name=$1 gw=$2; shift 2
  local root; root=$(fresh_root "$name")
  cat >"$root/cfg.json" <<JSON
{"workers": {"marie": {"prompt": "$SRC/prompts/DANCE.md", "api_key_env": "MARIE_KEY", "max_attempts": 1,
                       "deadline_s": 60}},
 "gateway": $gw,
 "executors": {"claude": {"bin": "$CLI", "max_retries": 0}}}
JSON
  printf '{"name": "tls", "tasks": [{"task_id": "t", "worker": "marie", "max_attempts": 1, "description": "One sentence on the week."}]}' >"$root/t.json"
  env "$@" "$CAF_NODE" run "$root/t.json" --root "$root" --config "$root/cfg.json" >/dev/null 2>"$root/err.log" || true
  echo "$root"
}

root=$(run_one trusted "{\"upstream\": \"$upstream\", \"ca_file\": \"$tls/cert.pem\"}")
check "over HTTPS with the mock's certificate trusted: complete" \
  json_is "$root/results/marie/t.json" "j['status'] == 'complete'"
check "... the mock saw the worker's key, over TLS" \
  grep -q '"api_key": "sk-test-tls-marie"' "$tls/requests.jsonl"

n_before=$(grep -c '"POST"' "$tls/requests.jsonl")
root=$(run_one untrusted "{\"upstream\": \"$upstream\"}")
check "an upstream certificate nobody trusts: the task fails" \
  json_is "$root/results/marie/t.json" "j['status'] == 'failed'"
check "... the gateway says why (the certificate)" grep -qi "certificate" "$root/err.log"
check "... and no request was answered" [ "$(grep -c '"POST"' "$tls/requests.jsonl")" -eq "$n_before" ]

root=$(run_one proxied "{\"upstream\": \"$upstream\", \"ca_file\": \"$tls/cert.pem\"}" \
  https_proxy="http://127.0.0.1:$(cat "$tls/proxy-port")" no_proxy=)
check "through an HTTPS proxy: complete" \
  json_is "$root/results/marie/t.json" "j['status'] == 'complete'"
check "... by the proxy's CONNECT to the upstream" grep -q "CONNECT 127.0.0.1:$(cat "$tls/port")" "$tls/proxy.log"
check "no key in the node's logs or results" \
  bash -c "! grep -rl 'sk-test-tls' '$WORK'/*/err.log '$WORK'/*/results '$tls/proxy.log'"
finish
