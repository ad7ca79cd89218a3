#!/usr/bin/env bash
# modelhub as a cluster, measured side by side in one run on this machine:
#  1. Hub API (`GET /api/models/{id}`) and `resolve` request rates and p99 with wrk, one node on
#     SQLite, one node on PostgreSQL, and two PostgreSQL nodes behind nginx
#     (docs/nginx-cluster.conf); ratios of the p99s (target: PostgreSQL <= 1.5x SQLite);
#  2. cross-node visibility: PUSHES pushes through node A, each timed from the end of
#     `git push` until node B serves the new commit (target: p99 <= 250 ms);
#  3. listing and search at each size in SIZES, on both databases: repos synthesized by
#     fixtures/many-repos.py, every request a query not asked before (no cache hits)
#     (target: p99 < 50 ms at 100,000 repos, flat from 1,000).
# Not a test: nothing here asserts a time. A throwaway PostgreSQL (crates/pg-testkit) is
# started and removed; nodes keep content on local disk (these reads touch no LFS object).
#
#   bench/cluster.sh [SECONDS] [PUSHES] [SIZES]    (defaults 10, 50, "1000 10000 100000";
#                                                   installs wrk, nginx and postgresql if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
SECS=${1:-10}
PUSHES=${2:-50}
SIZES=${3:-"1000 10000 100000"}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release --quiet -p modelhub -p pg-testkit
BIN=$ROOT/target/release/modelhub
PSQL=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
bench_workdir cluster
git_sandbox
# Stop the PostgreSQL server (its stdin closes) before the workdir goes.
trap 'exec 9>&- || true; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT

dbs=(single n2)
for n in $SIZES; do dbs+=("list$n"); done
mkfifo "$WORK/pg.in"
"$ROOT/target/release/pg-testkit" "${dbs[@]}" < "$WORK/pg.in" > "$WORK/pg.urls" 2> "$WORK/pg.log" &
PIDS+=($!)
exec 9> "$WORK/pg.in"
for _ in $(seq 300); do [ "$(wc -l < "$WORK/pg.urls")" -ge ${#dbs[@]} ] && break; sleep 0.1; done
url_of() { sed -n "s/^$1=//p" "$WORK/pg.urls"; }

# node NAME DATABASE [ARGS...]: a node with data dir WORK/NAME; sets NODE (its URL), NODE_PID.
node() {
    local name=$1 db=$2; shift 2
    mkdir -p "$WORK/$name"
    MODELHUB_DATA_DIR=$WORK/$name MODELHUB_DATABASE=$db "$BIN" serve --listen 127.0.0.1:0 "$@" \
        > "$WORK/$name.out" 2> "$WORK/$name.log" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    for _ in $(seq 300); do grep -q listening "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
    NODE=$(sed -n 's/^modelhub listening on //p' "$WORK/$name.out")
}
admin() { # DATA_DIR DATABASE ARGS...
    local dir=$1 db=$2; shift 2
    MODELHUB_DATA_DIR=$dir MODELHUB_DATABASE=$db "$BIN" "$@"
}
# seed URL TOKEN: pushes the card and config of bench/model through URL.
seed() {
    rm -rf "$WORK/seed"
    git clone -q "http://bench:$2@${1#http://}/bench/model" "$WORK/seed"
    cp fixtures/repos/good-model/README.md "$WORK/seed/"
    cp fixtures/weights/config-match.json "$WORK/seed/config.json"
    git -C "$WORK/seed" add -A && git -C "$WORK/seed" commit -qm model && git -C "$WORK/seed" push -q origin main
}
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else {sub(/s$/,"",v); print v*1000}}'; }
# wrk_run LABEL URL: prints a line; sets RPS and P99 (ms).
wrk_run() {
    local out
    out=$(wrk -t2 -c32 -d"${SECS}s" --latency "$2")
    RPS=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    P99=$(echo "$out" | awk '$1 == "99%" {print $2}' | to_ms)
    local errors
    errors=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '  %-52s %10s req/s   p99 %7.2f ms%s\n' "$1" "$RPS" "$P99" "${errors:+   NON-2XX: $errors}"
}

echo "1. request rates, wrk 2 threads 32 connections ${SECS}s each:"
declare -A p99
for db in sqlite postgres; do
    if [ $db = sqlite ]; then spec=sqlite:; else spec=$(url_of single); fi
    dir=$WORK/one-$db
    mkdir -p "$dir"
    admin "$dir" "$spec" user create bench >/dev/null 2>&1
    token=$(admin "$dir" "$spec" token create bench --role write)
    admin "$dir" "$spec" repo create bench/model >/dev/null 2>&1
    node "one-$db" "$spec"
    seed "$NODE" "$token"
    curl -sf -o /dev/null "$NODE/api/models/bench/model"
    wrk_run "$db, one node: GET /api/models/bench/model" "$NODE/api/models/bench/model"; p99[info-$db]=$P99
    wrk_run "$db, one node: GET /bench/model/resolve/main/config.json" "$NODE/bench/model/resolve/main/config.json"; p99[resolve-$db]=$P99
    kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
done

# Two PostgreSQL nodes sharing a repos folder, nginx in front.
spec=$(url_of n2)
mkdir -p "$WORK/repos" "$WORK/a" "$WORK/b"
admin "$WORK/a" "$spec" --repos-dir "$WORK/repos" user create bench >/dev/null 2>&1
token=$(admin "$WORK/a" "$spec" token create bench --role write)
admin "$WORK/a" "$spec" --repos-dir "$WORK/repos" repo create bench/model >/dev/null 2>&1
admin "$WORK/a" "$spec" --repos-dir "$WORK/repos" repo create bench/pushed >/dev/null 2>&1
lb_port=$(free_port)
node a "$spec" --repos-dir "$WORK/repos" --public-url "http://127.0.0.1:$lb_port"; A=$NODE
node b "$spec" --repos-dir "$WORK/repos" --public-url "http://127.0.0.1:$lb_port"; B=$NODE
mkdir -p "$WORK/nginx"
sed -e "s/listen 80;/listen 127.0.0.1:$lb_port;/" -e "s/10.0.0.11:8080/${A#http://}/" -e "s/10.0.0.12:8080/${B#http://}/" \
    -e "s/access_log access.log modelhub;/access_log off;/" docs/nginx-cluster.conf > "$WORK/nginx/nginx.conf"
/usr/sbin/nginx -p "$WORK/nginx/" -c nginx.conf -e error.log -g "daemon off; pid $WORK/nginx/nginx.pid;" &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$lb_port/healthz" && break; sleep 0.1; done
LB=http://127.0.0.1:$lb_port
seed "$LB" "$token"
wrk_run "postgres, 2 nodes via nginx: GET /api/models/bench/model" "$LB/api/models/bench/model"; p99[info-lb]=$P99
wrk_run "postgres, 2 nodes via nginx: GET .../resolve/main/config.json" "$LB/bench/model/resolve/main/config.json"; p99[resolve-lb]=$P99
printf '  p99 ratios, postgres / sqlite (one node): model info %.2f, resolve %.2f (target <= 1.5)\n' \
    "$(echo "${p99[info-postgres]} / ${p99[info-sqlite]}" | bc -l)" "$(echo "${p99[resolve-postgres]} / ${p99[resolve-sqlite]}" | bc -l)"

echo "2. cross-node visibility:"
python3 bench/visibility.py "$A" "$B" "$token" bench/pushed "$PUSHES" "$WORK"
echo "   target: p99 <= 250 ms"

echo "3. listing and search, 200 requests per line, each a query not asked before:"
for n in $SIZES; do
    for db in sqlite postgres; do
        dir=$WORK/list-$db-$n
        mkdir -p "$dir"
        if [ $db = sqlite ]; then
            spec=sqlite:
            admin "$dir" "$spec" user create bench >/dev/null 2>&1
            python3 fixtures/many-repos.py "$n" --sqlite "$dir/modelhub.db"
        else
            spec=$(url_of "list$n")
            admin "$dir" "$spec" user create bench >/dev/null 2>&1
            python3 fixtures/many-repos.py "$n" --postgres | "$PSQL" -q -v ON_ERROR_STOP=1 "$spec" >/dev/null
        fi
        sync  # the load's writes reach the disk before anything is timed
        node "list-$db-$n" "$spec"
        python3 bench/listing.py "$NODE" 200 "$db, $n repos"
        kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
    done
done
echo "   target: p99 < 50 ms at 100,000 repos, flat from 1,000"
