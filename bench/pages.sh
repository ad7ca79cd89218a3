#!/usr/bin/env bash
# Web page latency: wrk against the model page and the models list on a server holding 1,000
# repos, median and p99 (for these small pages the latency is the time to first byte plus a
# few microseconds). Not a test: nothing here asserts a time.
#
#   bench/pages.sh [REPOS] [SECONDS]     (defaults 1000 and 10; installs wrk if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
REPOS=${1:-1000}
SECS=${2:-10}
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub
bench_workdir pages
git_sandbox
export MODELHUB_DATA_DIR=$WORK/data

echo "creating $REPOS repos..." >&2
"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
for i in $(seq "$REPOS"); do "$BIN" repo create "bench/model-$i" 2>/dev/null; done
start_modelhub "$BIN" "$MODELHUB_DATA_DIR"; PIDS+=("$MH_PID")
URL=$MH
git clone -q "http://bench:$TOKEN@${URL#http://}/bench/model-1" "$WORK/repo"
cp fixtures/repos/good-model/README.md "$WORK/repo/"
cp fixtures/weights/config-match.json "$WORK/repo/config.json"
git -C "$WORK/repo" add -A && git -C "$WORK/repo" commit -qm card && git -C "$WORK/repo" push -q origin main
curl -sf -o /dev/null "$URL/models"   # warm the caches once, as any running server is

run() { # label url
    local out
    out=$(wrk -t2 -c8 -d"${SECS}s" --latency "$2")
    printf '  %-40s median %8s   p99 %8s   %s req/s\n' "$1" \
        "$(echo "$out" | awk '$1 == "50%" {print $2}')" "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
        "$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
}
echo "wrk, 2 threads, 8 connections, ${SECS}s each, $REPOS repos:"
run "model page /bench/model-1" "$URL/bench/model-1"
run "models list /models (first page)" "$URL/models"
echo "target: under 20 ms median for both"
