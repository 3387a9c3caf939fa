#!/usr/bin/env bash
# Runs one conf-example with the stock nginx and the module built in build/,
# in the foreground, next to the echo backend (127.0.0.1:9000) the examples
# proxy to. `make run` calls it with no argument (quickstart.conf).
#
#   bash conf-examples/run-demo.sh                  # quickstart.conf, until Ctrl-C
#   bash conf-examples/run-demo.sh bearer.conf      # any other example
#   bash conf-examples/run-demo.sh --check [NAME]   # run the example's curl lines, compare
#                                                   # statuses, stop (exit 1 on a mismatch)
#
# The example and the files next to it are copied into a temporary prefix
# directory (readable by nginx's unprivileged workers even when the clone lives
# under /root); the copy's `load_module` line is pointed at the built module, and
# nginx runs with that directory as prefix and working directory, so relative
# paths in the example resolve inside the copy.
#
# Environment: EDGE_AUTH_MODULE (module path), NGINX_BIN (default /usr/sbin/nginx),
# DEMO_BACKEND_PORT (default 9000; the examples expect 9000).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLES="$REPO/conf-examples"
MODULE=${EDGE_AUTH_MODULE:-$REPO/build/ngx_http_edge_auth_module.so}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
BACKEND_PORT=${DEMO_BACKEND_PORT:-9000}

check=0
name=quickstart.conf
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) name=$(basename "$arg") ;;
  esac
done
[[ $name == *.conf ]] || name="$name.conf"

die() { echo "run-demo: $*" >&2; exit 1; }

[[ -f $EXAMPLES/$name ]] || die "no such example: conf-examples/$name (have: $(cd "$EXAMPLES" && ls -- *.conf | tr '\n' ' '))"
[[ -f $MODULE ]] || die "$MODULE is missing: run 'make' first"
[[ -x $NGINX ]] || die "$NGINX not found (apt-get install nginx)"
command -v node >/dev/null || die "node not found (apt-get install nodejs)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
if head -1 "$EXAMPLES/$name" | grep -Eq '^#[[:space:]]*needs:.*\bidp\b'; then
  die "$name needs an identity provider; this script runs only self-contained examples"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports the example listens on (listen 127.0.0.1:PORT / listen PORT).
mapfile -t ports < <(sed -nE 's/^[[:space:]]*listen[[:space:]]+([0-9.]+:)?([0-9]+).*/\2/p' "$EXAMPLES/$name" | sort -u)
for p in "${ports[@]}" "$BACKEND_PORT"; do
  port_busy "$p" && die "port $p on 127.0.0.1 is in use (another demo or nginx running?)"
done

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/edge-auth-demo.XXXXXX")
backend_pid=
nginx_pid=
tail_pid=

cleanup() {
  trap - EXIT INT TERM
  if [[ -n $nginx_pid ]] && kill -0 "$nginx_pid" 2>/dev/null; then
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$nginx_pid" 2>/dev/null || true
  fi
  if [[ -n $backend_pid ]]; then kill -TERM "$backend_pid" 2>/dev/null || true; fi
  if [[ -n $tail_pid ]]; then kill -TERM "$tail_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf -- "$DEMO"
}
trap cleanup EXIT
trap 'echo; echo "run-demo: stopping"; exit 0' INT TERM

# The copy: every file of conf-examples, world-readable (workers run as nobody).
cp -R "$EXAMPLES/." "$DEMO/"
chmod -R a+rX "$DEMO"
conf="$DEMO/$name"
# Load a private copy of the module: `make` rewrites build/*.so in place, which
# would crash the running workers if they mapped that file.
cp "$MODULE" "$DEMO/ngx_http_edge_auth_module.so"
MODULE_COPY=$DEMO/ngx_http_edge_auth_module.so
if grep -Eq '^[[:space:]]*load_module[[:space:]]+[^;]*edge_auth[^;]*;' "$conf"; then
  sed -i -E "s|^([[:space:]]*)load_module[[:space:]]+[^;]*edge_auth[^;]*;|\1load_module $MODULE_COPY;|" "$conf"
else
  sed -i "1i load_module $MODULE_COPY;" "$conf"
fi
if [[ $(id -u) != 0 ]]; then
  # Debian's temp paths (/var/lib/nginx/*) need root: use the prefix instead.
  sed -i -E '0,/^[[:space:]]*http[[:space:]]*\{/s||http {\n    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;|' "$conf"
  mkdir -p "$DEMO/tmp"
fi

nginx_args=(-p "$DEMO/" -c "$conf" -e stderr -g "daemon off; pid $DEMO/nginx.pid;")

if ! out=$(cd "$DEMO" && "$NGINX" -t -q "${nginx_args[@]}" 2>&1); then
  echo "$out" >&2
  die "nginx -t failed for $name (the copy is $conf)"
fi

wait_port() { # port pid what
  for _ in $(seq 100); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during startup"
    sleep 0.1
  done
  die "$3 did not listen on 127.0.0.1:$1 within 10 s"
}

node "$REPO/t/lib/echo-backend.mjs" --port "$BACKEND_PORT" >"$DEMO/echo-backend.log" 2>&1 &
backend_pid=$!
wait_port "$BACKEND_PORT" "$backend_pid" "the echo backend"

if [[ $check == 1 ]]; then
  (cd "$DEMO" && exec "$NGINX" "${nginx_args[@]}" >"$DEMO/nginx.log" 2>&1) &
else
  (cd "$DEMO" && exec "$NGINX" "${nginx_args[@]}") &
fi
nginx_pid=$!
for p in "${ports[@]}"; do wait_port "$p" "$nginx_pid" nginx; done

# The curl lines of the example's header comment: "#   curl ...   # STATUS".
mapfile -t tries < <(sed -nE 's/^#[[:space:]]+(curl .*)$/\1/p' "$EXAMPLES/$name")

if [[ $check == 1 ]]; then
  fails=0
  for line in "${tries[@]}"; do
    cmd=$(sed -E 's/[[:space:]]+#[[:space:]]*[0-9]{3}[[:space:]]*$//' <<<"$line")
    want=$(sed -nE 's/.*#[[:space:]]*([0-9]{3})[[:space:]]*$/\1/p' <<<"$line")
    got=$(bash -c "$cmd -s -o /dev/null -w '%{http_code}' --max-time 10" 2>/dev/null || true)
    if [[ -n $want && $got == "$want" ]]; then
      echo "ok   $got  $cmd"
    else
      echo "FAIL got $got want ${want:-?}  $cmd"
      fails=$((fails + 1))
    fi
  done
  echo "$name: $((${#tries[@]} - fails)) ok, $fails failed"
  if [[ $fails != 0 ]]; then
    echo "--- nginx log:"; cat "$DEMO/nginx.log"
    exit 1
  fi
  exit 0
fi

cat <<EOF

edge-auth demo: $name with $(basename "$MODULE")
  nginx      http://127.0.0.1:${ports[*]}   (prefix $DEMO, pid $nginx_pid)
  backend    echo server on 127.0.0.1:$BACKEND_PORT (answers with what it received)

Try these from another terminal (expected status after #):
EOF
for line in "${tries[@]}"; do echo "  $line"; done
cat <<EOF

nginx's error log follows (and its access log, if the example writes one).
Ctrl-C stops nginx and the backend.

EOF
logs=()
for log in "$DEMO"/*.log; do
  [[ -f $log && $log != */echo-backend.log ]] && logs+=("$log")
done
if ((${#logs[@]})); then
  tail -q -n 0 -F "${logs[@]}" &
  tail_pid=$!
fi
wait "$nginx_pid" || true
nginx_pid=
echo "run-demo: nginx exited" >&2
