#!/usr/bin/env bash
# Dedup for git-lfs pushes, in one run against one modelhub server (release build): five
# revisions of a ~1 GiB synthetic checkpoint (bench/xet_checkpoint.py: 100 tensors, each
# revision rewriting 10% of them) pushed with real git + git-lfs, which stores each revision
# whole, as every LFS server does (Gitea, rudolfs, KohakuHub: five whole objects); then
# `modelhub gc` re-stores them through Xet (xet-core's chunker, chunk-level dedup against every
# stored revision). Prints the stored bytes before and after and their ratio (target: at
# least 50% fewer bytes than five whole objects), the time gc took, and `git lfs pull` of the
# last revision served whole versus rebuilt from xorbs. Not a test: nothing asserts a time.
#
#   bench/lfs-dedup.sh [SIZE_MIB]     (default 1024; ~12 GiB of free disk at 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SIZE_MIB=${1:-1024}
source bench/lib.sh
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub

bench_workdir lfs-dedup
DATA=$WORK/data
export MODELHUB_DATA_DIR=$DATA
"$BIN" user create bench >/dev/null 2>&1
TOKEN=$("$BIN" token create bench --role write)
"$BIN" repo create bench/ckpt >/dev/null 2>&1
start_modelhub "$BIN" "$DATA"; PIDS+=("$MH_PID")
git_sandbox
git lfs install --skip-repo >/dev/null
git config --global credential.helper store
echo "http://bench:$TOKEN@${MH#http://}" > "$HOME/.git-credentials"
bytes_in() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

git clone -q "$MH/bench/ckpt" "$WORK/ckpt"
echo "pushing five revisions of a ${SIZE_MIB} MiB checkpoint with git-lfs..." >&2
for rev in 1 2 3 4 5; do
    python3 bench/xet_checkpoint.py "$WORK/ckpt/model.safetensors" "$rev" "$SIZE_MIB"
    git -C "$WORK/ckpt" add model.safetensors
    git -C "$WORK/ckpt" commit -q -m "revision $rev"
    git -C "$WORK/ckpt" push -q origin main 2>/dev/null
done
WANT=$(sha256sum "$WORK/ckpt/model.safetensors" | cut -d' ' -f1)
WHOLE=$(bytes_in "$DATA/lfs/objects")

pull() {
    rm -rf "$WORK/pull"
    GIT_LFS_SKIP_SMUDGE=1 git clone -q "$MH/bench/ckpt" "$WORK/pull"
    local t0 t1
    t0=$(date +%s.%N)
    git -C "$WORK/pull" lfs pull
    t1=$(date +%s.%N)
    [ "$(sha256sum "$WORK/pull/model.safetensors" | cut -d' ' -f1)" = "$WANT" ] || { echo "pulled bytes differ" >&2; exit 1; }
    echo "$t1 - $t0" | bc
}
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
PULL_WHOLE=$(pull)

echo "modelhub gc (re-storing through Xet)..." >&2
t0=$(date +%s.%N)
"$BIN" gc > "$WORK/gc.out"
GC_S=$(echo "$(date +%s.%N) - $t0" | bc)
AFTER=$(bytes_in "$DATA/lfs/objects" "$DATA/xet/xorbs" "$DATA/xet/files" "$DATA/xet/by-xet" "$DATA/xet/chunks")
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
PULL_XET=$(pull)

printf 'five revisions of a %s MiB checkpoint (10%% of tensors rewritten each), pushed with git-lfs\n' "$SIZE_MIB"
printf '  stored whole, as any LFS server keeps them:   %10s MiB\n' "$(mib "$WHOLE")"
printf '  after modelhub gc, re-stored through Xet:     %10s MiB  (%s%% fewer bytes; target: at least 50%%)\n' \
    "$(mib "$AFTER")" "$(echo "scale=1; 100 - 100 * $AFTER / $WHOLE" | bc)"
printf '  gc took %.1f s: %s\n' "$GC_S" "$(grep '^LFS objects re-stored' "$WORK/gc.out")"
printf '  git lfs pull of the last revision: whole %.2f s, rebuilt from xorbs %.2f s (ratio %.2f)\n' \
    "$PULL_WHOLE" "$PULL_XET" "$(echo "$PULL_XET / $PULL_WHOLE" | bc -l)"
printf '  server peak RSS: %s MiB\n' "$(peak_rss_mib "$MH_PID")"
