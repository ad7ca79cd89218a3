# Shared by the bench scripts: ports, timing, medians, and an nginx serving a folder with
# sendfile. Source it after `cd` to the repo root; it sets nothing until a function is called.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Seconds a command takes (its output discarded); a failing command stops the benchmark.
secs() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null || { echo "failed: $*" >&2; kill $$; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

need_nginx() {
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || {
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >/dev/null
    }
}

# start_nginx DIR ROOT: serves ROOT on a free port with sendfile, its state in DIR; sets
# NGINX_PORT and NGINX_PID. The caller kills NGINX_PID.
start_nginx() {
    local dir=$1 root=$2
    NGINX_PORT=$(free_port)
    mkdir -p "$dir/tmp"
    cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server { listen 127.0.0.1:$NGINX_PORT; root $root; }
}
CONF
    PATH="$PATH:/usr/sbin" nginx -c "$dir/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
}

# start_modelhub BIN DATA_DIR: serves DATA_DIR on a free port; sets MH (its URL) and MH_PID.
start_modelhub() {
    local bin=$1 data=$2
    MODELHUB_DATA_DIR=$data "$bin" serve --listen 127.0.0.1:0 > "$data.out" 2> "$data.log" &
    MH_PID=$!
    for _ in $(seq 100); do grep -q listening "$data.out" 2>/dev/null && break; sleep 0.1; done
    MH=$(sed -n 's/^modelhub listening on //p' "$data.out")
}

# Peak resident memory of a process, in MiB.
peak_rss_mib() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }

# bench_workdir NAME: a fresh folder WORK (under BENCH_DIR, else /tmp) that nginx's workers can
# read; at exit every process in PIDS is stopped and the folder removed.
bench_workdir() {
    WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/modelhub-$1-bench.XXXXXX")
    chmod 755 "$WORK"
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
}

# git_sandbox: git with a throwaway HOME under WORK, no system config, a fixed identity.
git_sandbox() {
    export HOME=$WORK/home GIT_CONFIG_NOSYSTEM=1
    mkdir -p "$HOME"
    git config --global user.name bench && git config --global user.email bench@example.com
}
