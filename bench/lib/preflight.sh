# Sourced by bench/soak, bench/faults and bench/reliability: what they need before
# starting (the built module, the test helpers' npm packages, wrk, redis-server).
module=${EDGE_AUTH_MODULE:-build/ngx_http_edge_auth_module.so}
[[ -f $module ]] || { echo "$module is missing: run 'make module' first" >&2; exit 2; }
if [[ ! -d t/node_modules/jose ]]; then
  echo "installing the test helpers' npm packages (t/node_modules)" >&2
  make --no-print-directory t/node_modules/.installed >&2
fi
for tool in wrk redis-server node; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (make deps installs it)" >&2; exit 2; }
done
