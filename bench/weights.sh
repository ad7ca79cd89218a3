#!/usr/bin/env bash
# Weights validation cost: the pre-receive hook's wall time and the bytes it reads from the
# LFS store for a push of (a) one 1 GiB safetensors file, (b) one 5 GiB safetensors file,
# (c) a 10-shard checkpoint with its index, each already uploaded to the store. The hook is
# run as the server runs it, on the pushed commit, with MODELHUB_HOOK_STATS=1 so it reports
# its time and bytes read. Not a test: nothing here asserts a time.
#
#   bench/weights.sh [ROUNDS]      (default 5; needs ~7 GiB free: the objects are real files)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
ROUNDS=${1:-5}
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub
bench_workdir weights
git_sandbox
export MODELHUB_DATA_DIR=$WORK/data

"$BIN" user create bench 2>/dev/null
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/w 2>/dev/null
start_modelhub "$BIN" "$MODELHUB_DATA_DIR"; PIDS+=("$MH_PID")
URL=$MH
HOST=${URL#http://}

# Safetensors files with one U8 tensor each: a real header, then (sparse) zero data.
make_st() { # path bytes
    python3 - "$1" "$2" <<'EOF'
import json, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
h = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n)
EOF
}
upload() { # file -> pointer text on stdout
    local f=$1 oid size href
    oid=$(sha256sum "$f" | cut -d' ' -f1); size=$(stat -c %s "$f")
    href=$(curl -sf -u "bench:$TOKEN" -H 'Content-Type: application/vnd.git-lfs+json' \
        -d "{\"operation\":\"upload\",\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" \
        "$URL/bench/w.git/info/lfs/objects/batch" \
        | python3 -c "import json,sys; o=json.load(sys.stdin)['objects'][0]; print(o.get('actions',{}).get('upload',{}).get('href',''))")
    [ -z "$href" ] || curl -sf -T "$f" "$href" >/dev/null
    printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n' "$oid" "$size"
}

echo "making and uploading the objects (1 GiB, 5 GiB, 10 x 100 MiB)..." >&2
git clone -q "http://bench:$TOKEN@$HOST/bench/w" "$WORK/repo"
cd "$WORK/repo"
printf -- "---\nlicense: mit\n---\n# bench\n" > README.md
git add -A && git commit -qm card && git push -q origin main
make_st "$WORK/one.bin" $((1 << 30)); upload "$WORK/one.bin" > one.safetensors; rm "$WORK/one.bin"
git add -A && git commit -qm "1 GiB" && git push -q origin main
A=$(git rev-parse HEAD)
make_st "$WORK/five.bin" $((5 << 30)); upload "$WORK/five.bin" > five.safetensors; rm "$WORK/five.bin"
git add -A && git commit -qm "5 GiB" && git push -q origin main
B=$(git rev-parse HEAD)
python3 - <<'EOF' > model.safetensors.index.json
import json
n = 100 << 20
print(json.dumps({"metadata": {"total_size": 10 * n},
                  "weight_map": {f"w{i}": f"model-{i + 1:05d}-of-00010.safetensors" for i in range(10)}}))
EOF
for i in $(seq 10); do
    shard=$(printf 'model-%05d-of-00010.safetensors' "$i")
    python3 - "$WORK/shard.bin" "$((i - 1))" <<'EOF'
import json, struct, sys
n = 100 << 20
h = json.dumps({f"w{sys.argv[2]}": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n)
EOF
    upload "$WORK/shard.bin" > "$shard"; rm "$WORK/shard.bin"
done
git add -A && git commit -qm "10 shards" && git push -q origin main
C=$(git rev-parse HEAD)

BARE=$WORK/data/repos/models/bench/w.git
hook() { # old new -> "ms bytes"
    echo "$1 $2 refs/heads/main" | GIT_DIR=$BARE MODELHUB_DATA_DIR=$WORK/data MODELHUB_REPO_ID=1 \
        MODELHUB_REPO=bench/w MODELHUB_REPO_TYPE=model MODELHUB_PUSHER_ID=1 MODELHUB_HOOK_STATS=1 \
        "$BIN" hook pre-receive 2>&1 | sed -n 's/^modelhub: checked .* in \([0-9]*\) ms, reading \([0-9]*\) bytes.*/\1 \2/p'
}
declare -A T BYTES
for r in $(seq "$ROUNDS"); do
    for case in a b c; do
        case $case in a) old=$(git rev-parse "$A~1"); new=$A ;; b) old=$A; new=$B ;; c) old=$B; new=$C ;; esac
        read -r ms bytes <<< "$(hook "$old" "$new")"
        T[$case]+="$ms "; BYTES[$case]=$bytes
    done
done
printf 'pre-receive hook on a push (objects already in the store), median of %s runs\n' "$ROUNDS"
printf '  (a) one 1 GiB safetensors file:   %4s ms, %7s bytes read from the store\n' "$(echo "${T[a]}" | median)" "${BYTES[a]}"
printf '  (b) one 5 GiB safetensors file:   %4s ms, %7s bytes read from the store\n' "$(echo "${T[b]}" | median)" "${BYTES[b]}"
printf '  (c) 10 shards (1000 MiB) + index: %4s ms, %7s bytes read from the store\n' "$(echo "${T[c]}" | median)" "${BYTES[c]}"
echo "targets: under 100 ms per file; bytes read O(header)"
