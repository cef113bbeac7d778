#!/usr/bin/env bash
# Each worker's own Claude Code login, and the orchestrator's: the auth home
# auth-homes/<name>/.claude (its CLAUDE_CONFIG_DIR, never shared) is made,
# asked with `claude auth status` whether it can call the API, and, in a
# terminal, logged in on the spot with `claude auth login`. A worker whose
# config names api_key_env is asked with that variable's key, as it runs.
#
#   scripts/cli-auth.sh [ROOT] [CONFIG] [CLI]
#
# Exit 0 when every one can call the API, 1 when one cannot (each is named,
# with what to do), 2 on bad arguments.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${1:-.}
CONFIG=${2:-$SRC/config/troupe.json}
CLI=${3:-}
if [ -z "$CLI" ]; then
  if [ -x "$SRC/tests/claude-cli/node_modules/.bin/claude" ]; then
    CLI=$SRC/tests/claude-cli/node_modules/.bin/claude
  else
    CLI=$(command -v claude || true)
  fi
fi
[ -n "$CLI" ] && [ -x "$CLI" ] || {
  echo "cli-auth: no Claude Code CLI: make claude-cli installs the pinned one" >&2
  exit 2
}
[ -r "$CONFIG" ] || { echo "cli-auth: cannot read the config $CONFIG" >&2; exit 2; }
workers=$(jq -r '.workers | keys[]' "$CONFIG") || {
  echo "cli-auth: $CONFIG has no \"workers\" object" >&2
  exit 2
}
# Asks in a terminal only; CI and pipes get the status and the advice.
interactive=false
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then interactive=true; fi

# status <home> <key>: the CLI's own view, one word: subscription, api_key,
# or none. The CLI sees no key but the one it would run with.
status() {
  local out
  out=$(env -u ANTHROPIC_API_KEY -u ANTHROPIC_AUTH_TOKEN CLAUDE_CONFIG_DIR="$1" \
    ${2:+ANTHROPIC_API_KEY="$2"} "$CLI" auth status --json 2>/dev/null || true)
  jq -r 'if .loggedIn then .authMethod else "none" end' <<<"$out" 2>/dev/null || echo none
}

missing=()
for w in $workers orchestrator; do
  home=$ROOT/auth-homes/$w/.claude
  mkdir -p "$home"
  chmod 700 "$ROOT/auth-homes/$w"
  home=$(cd "$home" && pwd)
  if [ "$w" = orchestrator ]; then path=.orchestrator.api_key_env; else path=".workers[\"$w\"].api_key_env"; fi
  var=$(jq -r "$path // empty" "$CONFIG")
  key=""
  if [ -n "$var" ]; then key=${!var:-}; fi
  how=$(status "$home" "$key")
  if [ "$how" = none ] && $interactive; then
    read -r -p "$w is not logged in: log in now (claude auth login)? [y/N] " yes
    if [ "$yes" = y ] || [ "$yes" = yes ]; then
      env -u ANTHROPIC_API_KEY -u ANTHROPIC_AUTH_TOKEN CLAUDE_CONFIG_DIR="$home" "$CLI" auth login || true
      how=$(status "$home" "$key")
    fi
  fi
  case $how in
    none)
      missing+=("$w")
      echo "$w: NOT LOGGED IN ($home)"
      echo "    log in:  CLAUDE_CONFIG_DIR=$home $CLI auth login   (or run make cli-auth in a terminal)"
      if [ -n "$var" ]; then echo "    or set $var to its API key (the config's api_key_env)"
      else echo "    or give it a key: name a variable in its api_key_env in $CONFIG"; fi
      ;;
    api_key) echo "$w: ready, API key from ${var:-?} ($home)" ;;
    *) echo "$w: ready, logged in ($how) in $home" ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cli-auth: ${#missing[@]} cannot call the API yet: ${missing[*]}" >&2
  exit 1
fi
