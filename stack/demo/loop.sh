#!/bin/sh
# Runs `retryscope demo` again and again so a fresh `docker compose up` fills
# the dashboards and keeps them moving. The heartbeat file feeds the
# container's healthcheck: a demo run that hangs turns the container unhealthy.
set -u
duration="${DEMO_DURATION:-60}"
pause="${DEMO_PAUSE:-5}"
while :; do
  touch /tmp/demo-heartbeat
  node dist/cli/main.js demo --duration "$duration" --no-progress || echo "demo exited with $?; again in ${pause}s" >&2
  sleep "$pause"
done
