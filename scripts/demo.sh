#!/usr/bin/env bash
# The demo of what exists today, on the embedded defaults: a devnet chain
# (fast blocks) and damocles-manager on SQLite, in a temporary directory,
# on loopback. It creates a miner on the devnet through the manager's chain
# client and follows the chain until Ctrl-C, which stops every process it
# started and removes the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/dist/bin
block_time=${DEMO_BLOCK_TIME:-200ms}
dir=$(mktemp -d -t damocles-demo.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for_file() {
	for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	echo "timed out waiting for $1" >&2
	return 1
}

echo "== devnet ($block_time blocks) in $dir/devnet"
"$bin/damocles-devnet" run --home "$dir/devnet" --listen "127.0.0.1:$(free_port)" \
	--block-time "$block_time" >"$dir/devnet.out" 2>"$dir/devnet.log" &
pids+=($!)
wait_for_file "$dir/devnet/api"
chain_api=$(cat "$dir/devnet/api")
chain_token=$(cat "$dir/devnet/token")
wallet=$(sed -n 's/^Wallet: //p' "$dir/devnet.out")

echo "== manager (SQLite) in $dir/manager"
"$bin/damocles-manager" --home "$dir/manager" daemon init >/dev/null 2>"$dir/manager.log"
sed -i "s|^\[Common.API\]\$|[Common.API]\nChain = \"$chain_api\"\nToken = \"$chain_token\"|" "$dir/manager/sector-manager.cfg"
"$bin/damocles-manager" --home "$dir/manager" daemon run --listen "127.0.0.1:$(free_port)" 2>>"$dir/manager.log" &
pids+=($!)
wait_for_file "$dir/manager/api"

echo "== creating a 2KiB miner from the devnet wallet $wallet"
"$bin/damocles-manager" --home "$dir/manager" util miner create --from "$wallet" --sector-size 2KiB --confidence 1 2>>"$dir/manager.log"

echo
echo "try, in another terminal:"
echo "  $bin/damocles-manager --home $dir/manager util chain head"
echo "  $bin/damocles-manager --home $dir/manager util version"
echo "logs: $dir/devnet.log $dir/manager.log"
echo
echo "following the chain (Ctrl-C stops everything):"
while true; do
	"$bin/damocles-manager" --home "$dir/manager" util chain head 2>/dev/null | head -1
	sleep 5
done
