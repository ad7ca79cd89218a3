#!/usr/bin/env bash
# Xet benchmark, in one run against one modelhub server (release build), with the stock
# huggingface_hub 2.4.0 + hf_xet 1.8.0 of the test venv:
#   (a) stored bytes for five revisions of a ~1 GiB synthetic checkpoint, each rewriting 10%
#       of its tensors, uploaded through Xet versus through the LFS basic transfer
#       (HF_HUB_DISABLE_XET=1); every upload starts with an empty client cache, so all dedup
#       is the server's (global dedup);
#   (b) upload time of a fresh random 1 GiB file through hf_xet versus through LFS;
#   (c) download throughput of the Xet-stored checkpoint through `resolve` (reconstructed by
#       the server, curl as the client) versus nginx sending the same bytes from a file.
# Prints medians, ratios and the server's peak RSS. Not a test: nothing here asserts a time.
#
#   bench/xet.sh [ROUNDS] [SIZE_MIB]     (defaults 3 and 1024; ~12 GiB of free disk at 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${1:-3}
SIZE_MIB=${2:-1024}
source bench/lib.sh
need_nginx
PY=${MODELHUB_TEST_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "no venv at $PY: run ./tests/run.sh once (it creates it)" >&2; exit 1; }
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub

bench_workdir xet

DATA=$WORK/data
export MODELHUB_DATA_DIR=$DATA
"$BIN" user create bench >/dev/null 2>&1
TOKEN=$("$BIN" token create bench --role write)
for r in ckpt-xet ckpt-lfs; do "$BIN" repo create "bench/$r" >/dev/null 2>&1; done
for r in $(seq "$ROUNDS"); do "$BIN" repo create "bench/fresh-$r" >/dev/null; done
start_modelhub "$BIN" "$DATA"; PIDS+=("$MH_PID")

# upload MODE REPO FILE NAME -> seconds; a fresh HF_HOME each time (no client-side cache).
upload() {
    local mode=$1 home
    home=$(mktemp -d "$WORK/home.XXXXXX")
    local env=(HF_ENDPOINT="$MH" HF_TOKEN="$TOKEN" HF_HOME="$home" HOME="$home"
               HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_TELEMETRY=1)
    [ "$mode" = lfs ] && env+=(HF_HUB_DISABLE_XET=1)
    env -u HF_HUB_DISABLE_XET "${env[@]}" "$PY" bench/xet_upload.py "$2" "$3" "$4"
    rm -rf "$home"
}
bytes_in() { du -sb "$1" | cut -f1; }

echo "(a) five revisions of a ${SIZE_MIB} MiB checkpoint, 10% of tensors rewritten each time" >&2
CKPT=$WORK/model.safetensors
printf '(a) stored bytes after each revision (MiB)\n    rev   xet-upload-s  lfs-upload-s   xet-stored  lfs-stored\n'
for rev in 1 2 3 4 5; do
    python3 bench/xet_checkpoint.py "$CKPT" "$rev" "$SIZE_MIB"
    sync
    tx=$(upload xet bench/ckpt-xet "$CKPT" model.safetensors)
    tl=$(upload lfs bench/ckpt-lfs "$CKPT" model.safetensors)
    XS=$(bytes_in "$DATA/xet/xorbs"); LS=$(bytes_in "$DATA/lfs/objects")
    printf '    %d     %8.2f      %8.2f      %9.1f   %9.1f\n' "$rev" "$tx" "$tl" \
        "$(echo "$XS / 1048576" | bc -l)" "$(echo "$LS / 1048576" | bc -l)"
done
SHA=$(sha256sum "$CKPT" | cut -d' ' -f1)

echo "(b) fresh ${SIZE_MIB} MiB uploads, $ROUNDS rounds" >&2
declare -A T
for r in $(seq "$ROUNDS"); do
    # Different random bytes for each path (the same bytes would already be on the server
    # for the second one), written and synced before either upload; the order alternates.
    head -c "$((SIZE_MIB << 20))" /dev/urandom > "$WORK/fresh-xet.bin"
    head -c "$((SIZE_MIB << 20))" /dev/urandom > "$WORK/fresh-lfs.bin"
    sync
    if [ $((r % 2)) -eq 1 ]; then
        T[xet_up]+="$(upload xet "bench/fresh-$r" "$WORK/fresh-xet.bin" xet.bin) "
        T[lfs_up]+="$(upload lfs "bench/fresh-$r" "$WORK/fresh-lfs.bin" lfs.bin) "
    else
        T[lfs_up]+="$(upload lfs "bench/fresh-$r" "$WORK/fresh-lfs.bin" lfs.bin) "
        T[xet_up]+="$(upload xet "bench/fresh-$r" "$WORK/fresh-xet.bin" xet.bin) "
    fi
done
rm -f "$WORK"/fresh-*.bin

echo "(c) downloads of the Xet-stored checkpoint" >&2
mkdir -p "$WORK/nginx/root"
cp "$CKPT" "$WORK/nginx/root/model.safetensors"
start_nginx "$WORK/nginx" "$WORK/nginx/root"; PIDS+=("$NGINX_PID")
URL="$MH/bench/ckpt-xet/resolve/main/model.safetensors"
curl -sf -H "Authorization: Bearer $TOKEN" "$URL" | sha256sum | grep -q "$SHA" \
    || { echo "resolve did not return the checkpoint's bytes" >&2; exit 1; }
for r in $(seq "$ROUNDS"); do
    T[mh_down]+="$(secs curl -sf -H "Authorization: Bearer $TOKEN" -o /dev/null "$URL") "
    T[ng_down]+="$(secs curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/model.safetensors") "
done

declare -A M
for k in xet_up lfs_up mh_down ng_down; do M[$k]=$(echo "${T[$k]}" | median); done
SIZE=$(stat -c %s "$CKPT")
printf '(a) stored after 5 revisions: xet %.1f MiB, lfs %.1f MiB: xet stores %.0f%% fewer bytes (target >= 50%%)\n' \
    "$(echo "$XS / 1048576" | bc -l)" "$(echo "$LS / 1048576" | bc -l)" "$(echo "100 * (1 - $XS / $LS)" | bc -l)"
printf '(b) fresh %s MiB upload, median of %s: hf_xet %.2f s, LFS basic %.2f s: xet / lfs time = %.2f (target <= 1.0)\n' \
    "$SIZE_MIB" "$ROUNDS" "${M[xet_up]}" "${M[lfs_up]}" "$(echo "${M[xet_up]} / ${M[lfs_up]}" | bc -l)"
printf '(c) download of %d bytes, median of %s: resolve (reconstructed) %.2f s, nginx %.2f s: throughput ratio = %.2f (target >= 0.5)\n' \
    "$SIZE" "$ROUNDS" "${M[mh_down]}" "${M[ng_down]}" "$(echo "${M[ng_down]} / ${M[mh_down]}" | bc -l)"
printf 'modelhub peak RSS = %d MiB\n' "$(peak_rss_mib "$MH_PID")"
for k in xet_up lfs_up mh_down ng_down; do printf '  %-8s %s\n' "$k" "${T[$k]}"; done
