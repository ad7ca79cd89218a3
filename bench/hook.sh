#!/usr/bin/env bash
# Pre-receive hook cost: the wall time of `git push` over file:// into a bare repo with the
# modelhub hook (hooks/pre-receive, the release binary) beside the same push with no hook, for
#   (a) a one-file change in a 10,000-file repo, and
#   (b) the first push of a 100-file model.
# Prints medians and the difference. Not a test: nothing here asserts a time.
#
#   bench/hook.sh [ROUNDS]     (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
ROUNDS=${1:-15}
cargo build --release --quiet -p modelhub
export MODELHUB_BIN=$ROOT/target/release/modelhub GIT_CONFIG_NOSYSTEM=1
WORK=$(mktemp -d /tmp/modelhub-hook-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export HOME=$WORK/home
mkdir -p "$HOME"
git config --global user.name bench && git config --global user.email bench@example.com
git config --global init.defaultBranch main

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
card() { printf -- "---\nlicense: apache-2.0\nlanguage: en\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n# bench\n" > "$1/README.md"; }

# (a) 10,000 files, seeded into two bare repos before one of them gets the hook.
git init -q "$WORK/big"
card "$WORK/big"
python3 - "$WORK/big" <<'EOF'
import os, sys
for i in range(10000):
    d = os.path.join(sys.argv[1], f"d{i % 100:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write(f"file {i}\n")
EOF
git -C "$WORK/big" add -A && git -C "$WORK/big" commit -qm seed
for r in with without; do
    git init -q --bare "$WORK/big-$r.git"
    git -C "$WORK/big" push -q "$WORK/big-$r.git" main
done
git -C "$WORK/big-with.git" config core.hooksPath "$ROOT/hooks"
A_WITH=""; A_WITHOUT=""
for i in $(seq "$ROUNDS"); do
    echo "change $i" > "$WORK/big/d00/f00000.txt"
    git -C "$WORK/big" commit -qam "change $i"
    A_WITH+="$(ms git -C "$WORK/big" push -q "$WORK/big-with.git" main) "
    A_WITHOUT+="$(ms git -C "$WORK/big" push -q "$WORK/big-without.git" main) "
done

# (b) the first push of a 100-file model, into a fresh bare repo each time.
git init -q "$WORK/model"
card "$WORK/model"
printf '{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8}\n' > "$WORK/model/config.json"
printf '{"model_max_length": 4096}\n' > "$WORK/model/tokenizer_config.json"
for i in $(seq 97); do head -c 2000 /dev/urandom | base64 > "$WORK/model/part-$i.txt"; done
git -C "$WORK/model" add -A && git -C "$WORK/model" commit -qm model
B_WITH=""; B_WITHOUT=""
for i in $(seq "$ROUNDS"); do
    for r in with without; do
        rm -rf "$WORK/m-$r.git" && git init -q --bare "$WORK/m-$r.git"
    done
    git -C "$WORK/m-with.git" config core.hooksPath "$ROOT/hooks"
    B_WITH+="$(ms git -C "$WORK/model" push -q "$WORK/m-with.git" main) "
    B_WITHOUT+="$(ms git -C "$WORK/model" push -q "$WORK/m-without.git" main) "
done

aw=$(echo "$A_WITH" | median); ao=$(echo "$A_WITHOUT" | median)
bw=$(echo "$B_WITH" | median); bo=$(echo "$B_WITHOUT" | median)
printf 'git push over file://, median of %s rounds (milliseconds)\n' "$ROUNDS"
printf '  (a) one-file change, 10,000-file repo:  with hook %5s   without %5s   hook adds %5s  (target < 50)\n' "$aw" "$ao" "$(echo "$aw - $ao" | bc)"
printf '  (b) first push of a 100-file model:     with hook %5s   without %5s   hook adds %5s  (target < 150)\n' "$bw" "$bo" "$(echo "$bw - $bo" | bc)"
