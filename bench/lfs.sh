#!/usr/bin/env bash
# LFS benchmark: one 1 GiB random object uploaded, then downloaded, through the batch API with
# curl as the only client, side by side in one run against
#   - modelhub (this repo's release binary),
#   - rudolfs 0.3.8 (a Rust LFS server; local disk, no encryption key; it does not fsync),
#   - nginx serving the same file with sendfile (the download floor),
# and the durable-upload floor on the same disk: the longer of `openssl dgst -sha256` over the
# file and `dd ... conv=fdatasync` of it. Prints medians, ratios and modelhub's peak RSS.
# Not a test: nothing here asserts a time.
#
#   bench/lfs.sh [ROUNDS] [SIZE_MIB]     (defaults 3 and 1024; installs nginx and rudolfs if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-3}
SIZE_MIB=${2:-1024}

source bench/lib.sh
need_nginx
command -v rudolfs >/dev/null || cargo install rudolfs --version 0.3.8 --locked --quiet
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub

bench_workdir lfs

echo "writing a ${SIZE_MIB} MiB random object..." >&2
OBJ=$WORK/object
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$OBJ"
SIZE=$(stat -c %s "$OBJ")
OID=$(sha256sum "$OBJ" | cut -d' ' -f1)

# modelhub
export MODELHUB_DATA_DIR=$WORK/modelhub
"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/weights 2>/dev/null
"$BIN" serve --listen 127.0.0.1:0 > "$WORK/modelhub.out" 2> "$WORK/modelhub.log" &
MH_PID=$!; PIDS+=("$MH_PID")
for _ in $(seq 50); do grep -q listening "$WORK/modelhub.out" && break; sleep 0.1; done
MH=$(sed -n 's/^modelhub listening on //p' "$WORK/modelhub.out")
batch() { # url auth-args... op -> first action href
    local url=$1 op=$2; shift 2
    curl -sf "$@" -H 'Content-Type: application/vnd.git-lfs+json' -H 'Accept: application/vnd.git-lfs+json' \
        -d "{\"operation\":\"$op\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$OID\",\"size\":$SIZE}]}" "$url" \
        | python3 -c "import json,sys; o=json.load(sys.stdin)['objects'][0]; print(o['actions']['$op']['href'])"
}
MH_UP=$(batch "$MH/bench/weights.git/info/lfs/objects/batch" upload -u "bench:$TOKEN")

# rudolfs
RU_PORT=$(free_port)
rudolfs --host "127.0.0.1:$RU_PORT" local --path "$WORK/rudolfs" > "$WORK/rudolfs.log" 2>&1 &
PIDS+=("$!")
RU="http://127.0.0.1:$RU_PORT/api/bench/weights"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$RU_PORT/" && break; sleep 0.1; done
RU_UP=$(batch "$RU/objects/batch" upload)

# nginx, serving the same bytes (a hard link) with sendfile
mkdir -p "$WORK/nginx/root"
ln "$OBJ" "$WORK/nginx/root/object"
start_nginx "$WORK/nginx" "$WORK/nginx/root"; PIDS+=("$NGINX_PID")
NG_PORT=$NGINX_PORT

declare -A T
for r in $(seq "$ROUNDS"); do
    # The durable floor: hash every byte; write every byte and wait for the disk.
    T[hash]+="$(secs openssl dgst -sha256 "$OBJ") "
    T[dd]+="$(secs dd if="$OBJ" of="$WORK/dd.out" bs=4M conv=fdatasync status=none) "
    rm -f "$WORK/dd.out"
    T[mh_up]+="$(secs curl -sf -T "$OBJ" -H 'Content-Type: application/octet-stream' "$MH_UP") "
    T[ru_up]+="$(secs curl -sf -T "$OBJ" -H 'Content-Type: application/octet-stream' "$RU_UP") "
    MH_DOWN=$(batch "$MH/bench/weights.git/info/lfs/objects/batch" download -u "bench:$TOKEN")
    RU_DOWN=$(batch "$RU/objects/batch" download)
    T[mh_down]+="$(secs curl -sf -o /dev/null "$MH_DOWN") "
    T[ru_down]+="$(secs curl -sf -o /dev/null "$RU_DOWN") "
    T[ng_down]+="$(secs curl -sf -o /dev/null "http://127.0.0.1:$NG_PORT/object") "
done
# What was stored is what was sent.
cmp "$OBJ" "$WORK/modelhub/lfs/objects/${OID:0:2}/${OID:2:2}/$OID"

declare -A M
for k in hash dd mh_up ru_up mh_down ru_down ng_down; do M[$k]=$(echo "${T[$k]}" | median); done
FLOOR=$(echo "if (${M[hash]} > ${M[dd]}) ${M[hash]} else ${M[dd]}" | bc)
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$MH_PID/status")

printf '%s MiB object, median of %s rounds (seconds)\n' "$SIZE_MIB" "$ROUNDS"
printf '  upload    modelhub %6.2f   rudolfs %6.2f   durable floor %6.2f (sha256 %.2f, dd fdatasync %.2f)\n' \
    "${M[mh_up]}" "${M[ru_up]}" "$FLOOR" "${M[hash]}" "${M[dd]}"
printf '  download  modelhub %6.2f   rudolfs %6.2f   nginx sendfile %6.2f\n' "${M[mh_down]}" "${M[ru_down]}" "${M[ng_down]}"
printf 'upload:   modelhub / durable floor = %.2f (target <= 1.2); modelhub / rudolfs = %.2f (target <= 1.0)\n' \
    "$(echo "${M[mh_up]} / $FLOOR" | bc -l)" "$(echo "${M[mh_up]} / ${M[ru_up]}" | bc -l)"
printf 'download: modelhub throughput / nginx = %.2f (target >= 0.8); modelhub / rudolfs time = %.2f\n' \
    "$(echo "${M[ng_down]} / ${M[mh_down]}" | bc -l)" "$(echo "${M[mh_down]} / ${M[ru_down]}" | bc -l)"
printf 'modelhub peak RSS = %d MiB (target < 64)\n' "$((RSS_KB / 1024))"
for k in hash dd mh_up ru_up mh_down ru_down ng_down; do printf '  %-8s %s\n' "$k" "${T[$k]}"; done
