#!/bin/bash
# The long campaign: each target in turn (never two fuzzers at once), at
# nice 19, RUNS executions (or CAMPAIGN_MAX_TIME seconds, whichever first),
# starting from its seed corpus. Logs to OUT/campaign/<name>.log, new inputs
# to OUT/campaign/<name>/corpus, crashes to OUT/campaign/<name>/; the table
# of name, executions, exec/s, crashes and time goes to OUT/campaign/summary.md
# (CAMPAIGN_MAX_TIME: the cap in seconds per target, 2400 by default).
#   fuzz/campaign.sh build/fuzz 10000000 jws jwks ...     (make -C fuzz campaign)
# One process per target is what -jobs=1 gives, without its extra child.
set -u
out=$1 runs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
dir=$out/campaign
max_time=${CAMPAIGN_MAX_TIME:-2400}
mkdir -p "$dir"
summary=$dir/summary.md
# CAMPAIGN_APPEND=1 adds rows to an earlier summary (a campaign run in parts).
if [ "${CAMPAIGN_APPEND:-0}" != 1 ] || [ ! -f "$summary" ]; then
  {
    echo "| target | executions | exec/s | crashes | time (s) | cap (s) | date |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  } >"$summary"
fi
status=0
for t in "$@"; do
  mkdir -p "$dir/$t/corpus"
  touch "$dir/$t/.started"  # artifacts of an earlier run are not this run's
  start=$(date +%s)
  nice -n 19 "$out/${t}_fuzz" -runs="$runs" -max_total_time="$max_time" -timeout=25 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/$t/" \
    "$dir/$t/corpus" "$here/corpus/$t" >"$dir/$t.log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/$t.log" | grep -o '[0-9]*$')
  crashes=$(find "$dir/$t" -maxdepth 1 -type f -newer "$dir/$t/.started" \( -name 'crash-*' \
    -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes="exit $rc"
  per_sec=$(( ${execs:-0} / (elapsed > 0 ? elapsed : 1) ))
  echo "| $t | ${execs:-?} | $per_sec | $crashes | $elapsed | $max_time | $(date -u +%F) |" |
    tee -a "$summary"
  [ "$crashes" != 0 ] && status=1
done
exit $status
