#!/usr/bin/env bash
# Runs modelhub's whole test suite on a fresh machine: installs what the tests drive (git,
# git-lfs, and a Python venv with the pinned huggingface_hub), then builds and runs every test
# of the workspace, the end-to-end ones included.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
git lfs version >/dev/null 2>&1 || missing+=(git-lfs)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The real Hub clients, pinned, in the project's own venv (tests/e2e/hub_api.rs uses them;
# transformers installs without torch for configs and tokenizers).
HF_HUB_VERSION=2.4.0
TRANSFORMERS_VERSION=5.24.0
if ! .venv/bin/python -c "import huggingface_hub, transformers, sys; sys.exit(huggingface_hub.__version__ != '$HF_HUB_VERSION' or transformers.__version__ != '$TRANSFORMERS_VERSION')" 2>/dev/null; then
    echo "tests/run.sh: installing huggingface_hub==$HF_HUB_VERSION and transformers==$TRANSFORMERS_VERSION into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check \
        "huggingface_hub==$HF_HUB_VERSION" "transformers==$TRANSFORMERS_VERSION"
fi
export MODELHUB_TEST_PYTHON="$PWD/.venv/bin/python"

# Every test target (there are no doc tests), then one closing line with the totals.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --all-targets "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
sum() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"
