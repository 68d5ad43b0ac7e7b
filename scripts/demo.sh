#!/usr/bin/env bash
# Starts damocles-manager on the embedded defaults (SQLite) in a temporary
# home, on loopback, and shows how to talk to it. Ctrl-C stops it and removes
# the home.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=dist/bin
listen=${DEMO_LISTEN:-127.0.0.1:1789}
home=$(mktemp -d -t damocles-demo.XXXXXX)
trap 'rm -rf "$home"' EXIT

"$bin/damocles-manager" --home "$home" daemon init >/dev/null
echo "home: $home"
echo "in another terminal:"
echo "  $bin/damocles-manager --home $home util version"
echo "  $bin/damocles-manager --home $home util auth create-token --perm write"
echo "  curl -s http://$listen/healthcheck"
echo
exec "$bin/damocles-manager" --home "$home" daemon run --listen "$listen"
