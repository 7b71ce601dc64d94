#!/usr/bin/env bash
# Growth curves for docs/scale.md: for each N households (default 100,000,
# 1,000,000 and 3,000,000; one tobacco field per 8) over the 783 real
# villages, the time of the survey import, of a scoring run (the second:
# a re-score), and, through `riskmap serve`, of a cold village tile at
# zooms 8, 10 and 12, a page of 10,000 households with their children (an
# admin), and 100 households at offset 90% of N. One database per N,
# dropped afterwards (KEEP=1 keeps the last).
#
#   TEST_DATABASE_URL=... bash bench/growth.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL (make bench-growth does)}
SHARED=${RISKMAP_SHARED_GEODATA:-geodata/boundaries}
BIN=bin/riskmap
PORT=${PORT:-18097}
go build -o $BIN ./cmd/riskmap
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000 3000000)
secs() { local t0=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $t0" | bc; }
curlt() { curl -s -o /dev/null -w "%{time_total}" "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-10s %10s %10s %10s %10s %10s %12s %12s\n" households import_s score_s tile8_ms tile10_ms tile12_ms page10k_ms deep100_ms
for N in "${sizes[@]}"; do
  DBNAME=riskmap_growth_$N
  URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
  WORK=${BENCH_DIR:-/tmp/riskmap-growth}-$N
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
  export DATABASE_URL=$URL
  $BIN migrate >/dev/null
  for l in kabupaten kecamatan desa; do $BIN import boundaries --level $l "$SHARED/jatim-$l.geojson" >/dev/null; done
  [ -s "$WORK/children.csv" ] || $BIN demo generate --households "$N" --fields $((N / 8)) --out "$WORK" >/dev/null
  $BIN import plantations "$WORK/plantations.geojson" >/dev/null
  imp=$(secs $BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" --round baseline)
  psql -q "$URL" -c "VACUUM ANALYZE"
  $BIN score >/dev/null
  sc=$(secs $BIN score)
  KEY=$($BIN keys create --role admin --name growth 2>/dev/null | tail -1)
  $BIN serve --rate-limit 0 --tile-cache-mb 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
  SPID=$!
  for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
  t8=$(for i in 1 2 3 4 5; do curlt "http://127.0.0.1:$PORT/tiles/villages/8/208/133.mvt"; echo; done | median)
  t10=$(for i in 1 2 3 4 5; do curlt "http://127.0.0.1:$PORT/tiles/villages/10/834/534.mvt"; echo; done | median)
  t12=$(for i in 1 2 3 4 5; do curlt "http://127.0.0.1:$PORT/tiles/villages/12/3339/2137.mvt"; echo; done | median)
  pg=$(for i in 1 2 3; do curlt -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/collections/households/items?limit=10000&properties=village_code,score,tier,children"; echo; done | median)
  dp=$(for i in 1 2 3; do curlt -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/collections/households/items?limit=100&offset=$((N * 9 / 10))"; echo; done | median)
  kill $SPID; wait $SPID 2>/dev/null || true
  printf "%-10s %10.1f %10.1f %10.1f %10.1f %10.1f %12.0f %12.0f\n" "$N" "$imp" "$sc" "$(echo "$t8*1000" | bc)" "$(echo "$t10*1000" | bc)" "$(echo "$t12*1000" | bc)" "$(echo "$pg*1000" | bc)" "$(echo "$dp*1000" | bc)"
  [ "${KEEP:-}" = 1 ] || psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)"
done
