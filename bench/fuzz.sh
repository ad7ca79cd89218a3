#!/usr/bin/env bash
# bench/fuzz.sh MINUTES [TARGET...]: runs each cargo-fuzz target of crates/fuzz (libFuzzer, on
# the nightly toolchain) for MINUTES minutes, seeded from fixtures/, and prints executions and
# crashes per target. Installs cargo-fuzz if it is missing. Exits non-zero if any target
# crashed; the crashing inputs are kept under target/fuzz-artifacts/TARGET/.
#
# Corpora grow under target/fuzz-corpus/TARGET/ and are reused by the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:?usage: bench/fuzz.sh MINUTES [TARGET...]}
shift
secs=$(awk "BEGIN {print int($minutes * 60)}")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz.sh: needs the nightly toolchain" >&2; exit 2; }

all=$(sed -n 's/^name = "\(.*\)"$/\1/p' crates/fuzz/Cargo.toml | grep -v modelhub-fuzz)
targets=${*:-$all}

# Seeds: the fixtures each parser is meant for, plus a few hand-made inputs.
seed() {
    local t=$1 dir=target/fuzz-corpus/$1
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir")" ] && return
    case $t in
        card_yaml) for f in fixtures/repos/*/README.md; do cp "$f" "$dir/$(basename "$(dirname "$f")").md"; done ;;
        json_rules) for f in fixtures/repos/*/*.json fixtures/weights/*.json; do printf '\0' | cat - "$f" > "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
        safetensors) cp fixtures/weights/*.safetensors "$dir/" ;;
        gguf) cp fixtures/weights/*.gguf "$dir/" ;;
        pickle|pickle_oracle) cp fixtures/pickles/*.pkl fixtures/weights/*.pkl "$dir/" ;;
        weights_containers)
            for f in fixtures/pickles/containers/* fixtures/weights/*.bin fixtures/weights/*.pt; do
                printf '\0' | cat - "$f" > "$dir/$(basename "$f")"
            done ;;
        pktline) printf '\x100032want 0123456789012345678901234567890123456789\n00000009done\n' > "$dir/want"
                 printf '\x030000PACK' > "$dir/flush" ;;
        lfs_batch) echo '{"operation":"upload","transfers":["basic"],"objects":[{"oid":"'"$(printf 'a%.0s' {1..64})"'","size":3}],"hash_algo":"sha256"}' > "$dir/batch" ;;
        commit_ndjson) printf '\x07{"key":"header","value":{"summary":"s"}}\n{"key":"file","value":{"path":"a.txt","content":"aGk=","encoding":"base64"}}\n{"key":"deletedFile","value":{"path":"b"}}\n' > "$dir/commit" ;;
        range) for h in 'bytes=0-99' 'bytes=-5' 'bytes=10-' 'bytes=5-1'; do printf '\x00\x10\x00\x00\x00\x00\x00\x00%s' "$h" > "$dir/$h"; done ;;
        names) for s in acme/llama-7b refs/pr/1 main v1.0 .gitattributes 'a/../b' .GIT/config; do printf '%s' "$s" > "$dir/$(echo "$s" | tr '/' '_')"; done ;;
        xet_xorb|xet_shard) printf '\0%.0s' {1..64} > "$dir/zeros" ;;
    esac
}

printf '%-20s %14s %8s\n' target executions crashes
crashed=0
for t in $targets; do
    seed "$t"
    mkdir -p "target/fuzz-artifacts/$t"
    log=$(mktemp)
    set +e
    cargo +nightly fuzz run --fuzz-dir crates/fuzz --features fuzzing "$t" "target/fuzz-corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="target/fuzz-artifacts/$t/" >"$log" 2>&1
    status=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # libFuzzer also keeps slow-unit-* inputs; only crashes, OOMs, leaks and timeouts count.
    crashes=$(find "target/fuzz-artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'timeout-*' \) | wc -l)
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        echo "fuzz.sh: $t did not run:" >&2
        tail -20 "$log" >&2
        crashes=1
    fi
    printf '%-20s %14s %8s\n' "$t" "${execs:-0}" "$crashes"
    [ "$crashes" -eq 0 ] || crashed=1
    rm -f "$log"
done
exit $crashed
