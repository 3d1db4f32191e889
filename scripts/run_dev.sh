#!/usr/bin/env bash
# `make run`: writes .env.dev, migrates, seeds the demo, prints the banner, then runs the HTTP +
# WebSocket server (Daphne) and, next to it, the platform simulator and the delivery worker.
# Ctrl-C (or any one process exiting) stops them all.
# Expects the venv made by `make venv`; HOST, PORT, SIM_PORT and VENV come from the Makefile.
set -uo pipefail
cd "$(dirname "$0")/.."

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
BIN=${VENV:-.venv}/bin
export DEBUG=${DEBUG:-true}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://$HOST:$PORT}

pids=()
stop_all() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

# Local platform simulator (Telegram Bot API + Instagram Graph API stand-in, docs/platforms.md):
# staff replies to Telegram/Instagram conversations land there instead of the real platforms
# (GET http://127.0.0.1:$SIM_PORT/_sim/sent), and in another terminal
#   make say TEXT="hello" FROM=alice   (or: .venv/bin/python manage.py platform_sim --say "hello" --from alice)
# posts a customer message to our webhook. PLATFORM_SIM=0 turns it off; TELEGRAM_API_BASE /
# INSTAGRAM_GRAPH_API_BASE set in the environment win over it.
SIM_PORT=${SIM_PORT:-8081}
if [ "${PLATFORM_SIM:-1}" != "0" ]; then
    export TELEGRAM_API_BASE=${TELEGRAM_API_BASE:-http://127.0.0.1:$SIM_PORT}
    export INSTAGRAM_GRAPH_API_BASE=${INSTAGRAM_GRAPH_API_BASE:-http://127.0.0.1:$SIM_PORT/v21.0}
fi

# .env.dev: this server's settings, for manage.py in a second terminal (fiko/dev_env.py). Written
# first, so a file left by an earlier `make run` (another database, another port) never applies.
{
    echo "# Written by \`make run\` (scripts/run_dev.sh) for manage.py in other terminals; development only."
    echo "# Rewritten by every \`make run\`; variables set in the environment win over it."
    for name in DEBUG PUBLIC_BASE_URL TELEGRAM_API_BASE INSTAGRAM_GRAPH_API_BASE DATABASE_URL REDIS_URL MEDIA_ROOT; do
        if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}"; fi
    done
} > .env.dev

"$BIN/python" manage.py migrate --noinput || exit
"$BIN/python" manage.py seed_demo || exit
"$BIN/python" manage.py print_demo_token --starting || exit

if [ "${PLATFORM_SIM:-1}" != "0" ]; then
    "$BIN/python" manage.py platform_sim --host 127.0.0.1 --port "$SIM_PORT" &
    pids+=($!)
fi

"$BIN/daphne" -b "$HOST" -p "$PORT" fiko.asgi:application &
pids+=($!)

# Outbound delivery worker: sends staff replies to Telegram/Instagram, retries with backoff and
# resumes sends a crash interrupted. The server also delivers at once, in-process, on commit;
# without REDIS_URL this worker only rescues rows overdue by 10 s (its events could not reach
# the server's sockets). See docs/platforms.md.
"$BIN/python" manage.py run_delivery_worker &
pids+=($!)

echo "run_dev: serving on http://$HOST:$PORT (pids ${pids[*]}); Ctrl-C stops everything."
wait -n
status=$?
echo "run_dev: a process exited (status $status); stopping the others."
exit "$status"
