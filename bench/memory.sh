#!/usr/bin/env bash
# Memory under load: how much each server's resident memory grows while many clients download
# at once, reading slowly (curl --limit-rate), side by side in one run:
#   (a) CLIENTS downloads of one 256 MiB LFS object: modelhub (batch API link), rudolfs 0.3.8
#       (a Rust LFS server, local disk) and nginx sending the same file with sendfile;
#   (b) CLIENTS downloads of a 9 MiB plain (non-LFS) file through modelhub's `resolve`, which
#       git gives only whole, beside nginx sending the same file.
# Prints each server's peak RSS growth (VmHWM; for nginx its workers' sum), per client and
# in all, and modelhub's ratios to the peers. Not a test: nothing here asserts.
#
#   bench/memory.sh [CLIENTS] [SECONDS]    (defaults 50 and 10; installs nginx and rudolfs if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CLIENTS=${1:-50}
SECONDS_EACH=${2:-10}

source bench/lib.sh
need_nginx
export PATH="$HOME/.cargo/bin:$PATH"
command -v rudolfs >/dev/null || cargo install rudolfs --version 0.3.8 --locked --quiet
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub

bench_workdir memory
git_sandbox

OBJ=$WORK/object
head -c $((256 << 20)) /dev/urandom > "$OBJ"
SIZE=$(stat -c %s "$OBJ")
OID=$(sha256sum "$OBJ" | cut -d' ' -f1)

# The peak resident memory of a server in KiB: a process, or nginx's workers together.
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
nginx_kib() {
    local sum=0 p
    for p in $(pgrep -P "$NGINX_PID"); do sum=$((sum + $(peak_kib "$p"))); done
    echo "$sum"
}

# CLIENTS slow downloads of URL at once for SECONDS_EACH; the byte counts must be whole or cut
# by the time limit, never an error.
stall() {
    local url=$1 i pids=()
    for i in $(seq "$CLIENTS"); do
        curl -s -o /dev/null --limit-rate 256k --max-time "$SECONDS_EACH" "$url" &
        pids+=("$!")
    done
    for i in "${pids[@]}"; do wait "$i" || [ $? -eq 28 ]; done # 28: the --max-time cut
}

# Growth of a server's peak RSS (KiB) over one stall: `grow KIB_FN ARG URL`.
grow() {
    local fn=$1 arg=$2 url=$3 before after
    before=$($fn "$arg")
    stall "$url"
    after=$($fn "$arg")
    echo $((after - before))
}

# modelhub, with the object and a repo holding a 9 MiB plain file
export MODELHUB_DATA_DIR=$WORK/modelhub
"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/m 2>/dev/null
start_modelhub "$BIN" "$WORK/modelhub"; PIDS+=("$MH_PID")
batch() { # url op auth-args... -> the object's action href
    local url=$1 op=$2; shift 2
    curl -sf "$@" -H 'Content-Type: application/vnd.git-lfs+json' -H 'Accept: application/vnd.git-lfs+json' \
        -d "{\"operation\":\"$op\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}" "$url" \
        | python3 -c "import json,sys; o=json.load(sys.stdin)['objects'][0]; print(o['actions']['$op']['href'])"
}
curl -sf -T "$OBJ" -H 'Content-Type: application/octet-stream' \
    "$(batch "$MH/bench/m.git/info/lfs/objects/batch" upload -u "bench:$TOKEN")" >/dev/null
MH_DOWN=$(batch "$MH/bench/m.git/info/lfs/objects/batch" download -u "bench:$TOKEN")

PLAIN=$WORK/vocab.txt
head -c $((9 << 19)) /dev/urandom | od -An -tx1 -v | tr -d ' \n' > "$PLAIN"
git clone -q "${MH/http:\/\//http://bench:$TOKEN@}/bench/m" "$WORK/m"
cp "$PLAIN" "$WORK/m/vocab.txt"
git -C "$WORK/m" add vocab.txt && git -C "$WORK/m" commit -qm vocab && git -C "$WORK/m" push -q origin main
curl -sf "$MH/bench/m/resolve/main/vocab.txt" | cmp - "$PLAIN"

# rudolfs
RU_PORT=$(free_port)
rudolfs --host "127.0.0.1:$RU_PORT" local --path "$WORK/rudolfs" > "$WORK/rudolfs.log" 2>&1 &
RU_PID=$!; PIDS+=("$RU_PID")
RU="http://127.0.0.1:$RU_PORT/api/bench/m"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$RU_PORT/" && break; sleep 0.1; done
curl -sf -T "$OBJ" -H 'Content-Type: application/octet-stream' "$(batch "$RU/objects/batch" upload)" >/dev/null
RU_DOWN=$(batch "$RU/objects/batch" download)

# nginx, serving the same bytes
mkdir -p "$WORK/nginx/root"
ln "$OBJ" "$WORK/nginx/root/object"
cp "$PLAIN" "$WORK/nginx/root/vocab.txt"
start_nginx "$WORK/nginx" "$WORK/nginx/root"; PIDS+=("$NGINX_PID")
NG="http://127.0.0.1:$NGINX_PORT"

echo "each server: $CLIENTS clients downloading at once, 256 KiB/s each, for $SECONDS_EACH s" >&2
MH_LFS=$(grow peak_kib "$MH_PID" "$MH_DOWN")
RU_LFS=$(grow peak_kib "$RU_PID" "$RU_DOWN")
NG_LFS=$(grow nginx_kib "" "$NG/object")
MH_PLAIN=$(grow peak_kib "$MH_PID" "$MH/bench/m/resolve/main/vocab.txt")
NG_PLAIN=$(grow nginx_kib "" "$NG/vocab.txt")

ratio() { if [ "$2" -gt 0 ]; then echo "scale=2; $1 / $2" | bc; else echo "n/a (peer grew 0)"; fi; }
row() { printf '  %-10s grew %8d KiB  (%7.1f KiB per client)\n' "$1" "$2" "$(echo "$2 / $CLIENTS" | bc -l)"; }
echo "(a) $CLIENTS slow downloads of a 256 MiB LFS object: peak RSS growth"
row modelhub "$MH_LFS"; row rudolfs "$RU_LFS"; row nginx "$NG_LFS"
echo "    modelhub / rudolfs = $(ratio "$MH_LFS" "$RU_LFS"); modelhub / nginx = $(ratio "$MH_LFS" "$NG_LFS")"
echo "(b) $CLIENTS slow downloads of a 9 MiB plain file (resolve): peak RSS growth"
row modelhub "$MH_PLAIN"; row nginx "$NG_PLAIN"
echo "    modelhub / nginx = $(ratio "$MH_PLAIN" "$NG_PLAIN"); modelhub's plain-file budget: 128 MiB"
printf 'modelhub peak RSS overall = %d MiB\n' "$(($(peak_kib "$MH_PID") / 1024))"
