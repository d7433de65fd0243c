#!/usr/bin/env bash
# `make run`'s servers: gunicorn in the foreground and one Celery worker with beat beside it.
#
# The worker runs in its own session, so the terminal's Ctrl-C reaches gunicorn only; when
# gunicorn has stopped, the worker's main process gets one TERM (a warm shutdown: running
# tasks finish, the pool's processes exit by themselves) and the script waits for it. A Ctrl-C
# sent to the worker's whole process group as well would kill the pool's processes with a
# signal, which Celery reports as an error.
set -euo pipefail
cd "$(dirname "$0")/.."

host=${HOST:-127.0.0.1}
port=${PORT:-8000}
bin=.venv/bin

case "${METRICS_ENABLED:-0}" in
  1 | true | yes | on)
    # One folder the gunicorn processes share, so a scrape adds them up; empty at each start.
    export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    ;;
esac

if [ "$(id -u)" -eq 0 ]; then
  # Root on a one-person machine (a container, a lab laptop) is deliberate here: the worker
  # reads only JSON messages (no pickle), and its files under var/ belong to the same user as
  # the web process's. C_FORCE_ROOT is Celery's switch for this; hyperstudy_dash/celery.py
  # then also silences Celery's warning. A deployment runs the worker as its own user.
  export C_FORCE_ROOT=1
fi

setsid "$bin/celery" -A hyperstudy_dash worker --beat --loglevel WARNING --concurrency 2 &
worker=$!
web=
stop() {
  trap - EXIT INT TERM
  [ -n "$web" ] && kill -TERM "$web" 2>/dev/null && wait "$web" 2>/dev/null
  kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
  return 0
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "Dashboard: http://$host:$port/  (Ctrl-C stops the server and the worker)"
"$bin/gunicorn" hyperstudy_dash.wsgi -c scripts/gunicorn.conf.py --bind "$host:$port" \
  --access-logfile - &
web=$!
wait "$web"
