#!/usr/bin/env bash
# The development processes behind `make run`: the HTTP + WebSocket server (Daphne) and,
# next to it, any background worker. Ctrl-C (or any one process exiting) stops them all.
# Expects the venv made by `make venv`; HOST, PORT and VENV come from the Makefile.
set -uo pipefail
cd "$(dirname "$0")/.."

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
BIN=${VENV:-.venv}/bin
export DEBUG=${DEBUG:-true}

pids=()
stop_all() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

"$BIN/daphne" -b "$HOST" -p "$PORT" fiko.asgi:application &
pids+=($!)

# Outbound delivery worker (sends staff replies to Telegram/Instagram): start it here, e.g.
#   "$BIN/python" manage.py <delivery worker command> &
#   pids+=($!)

echo "run_dev: serving on http://$HOST:$PORT (pids ${pids[*]}); Ctrl-C stops everything."
wait -n
status=$?
echo "run_dev: a process exited (status $status); stopping the others."
exit "$status"
