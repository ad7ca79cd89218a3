#!/usr/bin/env bash
# Clone benchmark: one ~60 MB, 5,000-commit repository cloned side by side through
#   - modelhub (this repo's release binary),
#   - git clone --no-local file:// (the floor: upload-pack over a pipe),
#   - Apache 2.4 + git http-backend (git's reference setup),
# in the same run, ROUNDS times each, interleaved. Prints median wall times, ratios, and the
# modelhub server's peak RSS. Not a test: nothing here asserts a time.
#
#   bench/clone.sh [ROUNDS]        (default 5; installs apache2 with apt-get if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROOT=$(pwd)
ROUNDS=${1:-5}

command -v apache2 >/dev/null || command -v /usr/sbin/apache2 >/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq apache2 >/dev/null
}
cargo build --release --quiet -p modelhub
BIN=$ROOT/target/release/modelhub

bench_workdir clone


echo "building the fixture repository..." >&2
python3 fixtures/history-repo.py "$WORK/src.git"
PACK_MB=$(du -sm "$WORK/src.git/objects/pack" | cut -f1)
COMMITS=$(git -C "$WORK/src.git" rev-list --count main)

# modelhub, serving an exact copy of the fixture.
export MODELHUB_DATA_DIR=$WORK/modelhub
"$BIN" user create bench 2>/dev/null
"$BIN" repo create bench/history 2>/dev/null
rm -rf "$WORK/modelhub/repos/models/bench/history.git"
cp -a "$WORK/src.git" "$WORK/modelhub/repos/models/bench/history.git"
"$BIN" serve --listen 127.0.0.1:0 > "$WORK/modelhub.out" 2> "$WORK/modelhub.log" &
MH_PID=$!; PIDS+=("$MH_PID")
for _ in $(seq 50); do grep -q listening "$WORK/modelhub.out" && break; sleep 0.1; done
MH_URL="$(sed -n 's/^modelhub listening on //p' "$WORK/modelhub.out")/bench/history"

# Apache + git http-backend, serving another exact copy.
mkdir -p "$WORK/apache/repos" "$WORK/apache/run"
cp -a "$WORK/src.git" "$WORK/apache/repos/history.git"
chown -R www-data "$WORK/apache" 2>/dev/null || true
AP_PORT=$(free_port)
MODS=/usr/lib/apache2/modules
cat > "$WORK/apache/httpd.conf" <<EOF
ServerRoot "$WORK/apache"
ServerName localhost
Listen 127.0.0.1:$AP_PORT
PidFile $WORK/apache/run/httpd.pid
ErrorLog $WORK/apache/error.log
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule alias_module $MODS/mod_alias.so
LoadModule cgid_module $MODS/mod_cgid.so
LoadModule env_module $MODS/mod_env.so
ScriptSock $WORK/apache/run/cgid.sock
User www-data
Group www-data
SetEnv GIT_PROJECT_ROOT $WORK/apache/repos
SetEnv GIT_HTTP_EXPORT_ALL 1
ScriptAlias /git/ $(git --exec-path)/git-http-backend/
<Directory "$(git --exec-path)">
    Require all granted
</Directory>
EOF
/usr/sbin/apache2 -f "$WORK/apache/httpd.conf" -DFOREGROUND &
PIDS+=("$!")
AP_URL="http://127.0.0.1:$AP_PORT/git/history.git"
for _ in $(seq 50); do curl -sf "$AP_URL/info/refs?service=git-upload-pack" >/dev/null && break; sleep 0.1; done

FILE_URL="file://$WORK/src.git"
clone() { # name url -> seconds
    local dst="$WORK/clone-$1"
    rm -rf "$dst"
    local t0 t1
    t0=$(date +%s.%N)
    GIT_CONFIG_NOSYSTEM=1 HOME=$WORK git clone --bare --quiet --no-local "$2" "$dst"
    t1=$(date +%s.%N)
    [ "$(git -C "$dst" rev-parse main)" = "$(git -C "$WORK/src.git" rev-parse main)" ] || { echo "bad clone from $1" >&2; exit 1; }
    echo "$t1 - $t0" | bc
}

declare -A T
ORDERS=("file modelhub apache" "modelhub apache file" "apache file modelhub")
for r in $(seq "$ROUNDS"); do
    # Rotate who goes first, so warm caches and a busy neighbour favour no one.
    for name in ${ORDERS[$(( (r - 1) % 3 ))]}; do
        case $name in file) u=$FILE_URL ;; modelhub) u=$MH_URL ;; apache) u=$AP_URL ;; esac
        T[$name]+="$(clone "$name" "$u") "
    done
done
F=$(echo "${T[file]}" | median); M=$(echo "${T[modelhub]}" | median); A=$(echo "${T[apache]}" | median)
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$MH_PID/status")

printf 'clone of a %s-commit repository, %s MB pack, median of %s rounds (seconds)\n' "$COMMITS" "$PACK_MB" "$ROUNDS"
printf '  %-30s %6.2f   all: %s\n' "git clone --no-local file://" "$F" "${T[file]}"
printf '  %-30s %6.2f   all: %s\n' "modelhub" "$M" "${T[modelhub]}"
printf '  %-30s %6.2f   all: %s\n' "Apache + git http-backend" "$A" "${T[apache]}"
printf 'ratio modelhub / file://  = %.3f   (target <= 1.05)\n' "$(echo "$M / $F" | bc -l)"
printf 'ratio modelhub / Apache   = %.3f   (target <= 1.00)\n' "$(echo "$M / $A" | bc -l)"
printf 'modelhub server peak RSS  = %d MiB over %s clones\n' "$((RSS_KB / 1024))" "$ROUNDS"
