#!/usr/bin/env bash
# Hub API request rates: wrk against `GET /{id}/resolve/main/config.json` (every
# from_pretrained fetches it; wrk cannot time HEAD, whose responses it waits on for a body) and `GET /api/models/{id}`, beside nginx serving a small static file,
# in the same run. Prints requests per second, p99 latency and the ratios.
# Not a test: nothing here asserts a rate.
#
#   bench/api.sh [SECONDS]      (default 10 per target; installs wrk and nginx-light if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
SECS=${1:-10}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
for pkg in wrk nginx; do
    command -v $pkg >/dev/null || [ -x /usr/sbin/$pkg ] || {
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk nginx-light >/dev/null
    }
done
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub
bench_workdir api
git_sandbox
export MODELHUB_DATA_DIR=$WORK/data

"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/model 2>/dev/null
start_modelhub "$BIN" "$MODELHUB_DATA_DIR"; PIDS+=("$MH_PID")
URL=$MH
git clone -q "http://bench:$TOKEN@${URL#http://}/bench/model" "$WORK/repo"
cp fixtures/repos/good-model/README.md fixtures/weights/config-match.json "$WORK/repo/"
mv "$WORK/repo/config-match.json" "$WORK/repo/config.json"
git -C "$WORK/repo" add -A && git -C "$WORK/repo" commit -qm model && git -C "$WORK/repo" push -q origin main

mkdir -p "$WORK/nginx/root"
cp "$WORK/repo/config.json" "$WORK/nginx/root/config.json"
start_nginx "$WORK/nginx" "$WORK/nginx/root"; PIDS+=("$NGINX_PID")
NG_PORT=$NGINX_PORT

run() { # label url [script]
    local out
    out=$(wrk -t2 -c32 -d"${SECS}s" --latency ${3:+-s "$3"} "$2")
    local rps p99
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    printf '  %-44s %10s req/s   p99 %s\n' "$1" "$rps" "$p99" >&2
    echo "$rps"
}
echo "wrk, 2 threads, 32 connections, ${SECS}s each:" >&2
NG=$(run "nginx GET /config.json (static)" "http://127.0.0.1:$NG_PORT/config.json")
RES=$(run "modelhub GET /bench/model/resolve/main/config.json" "$URL/bench/model/resolve/main/config.json")
INFO=$(run "modelhub GET /api/models/bench/model" "$URL/api/models/bench/model")
printf 'ratio resolve / nginx = %.2f (target >= 0.5); model info / nginx = %.2f\n' \
    "$(echo "$RES / $NG" | bc -l)" "$(echo "$INFO / $NG" | bc -l)"
