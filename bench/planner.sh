#!/usr/bin/env bash
# Benchmark: what planners are served at N households (default 1,000,000)
# over the 783 real villages: `riskmap score` with its publication stages
# (publish, geomask, disclosure check), then a planner's masked household
# requests with a bbox (a village, a kecamatan, the whole region) and
# /collections, each timed through the service (median of 7 curl runs) and
# as the raw PostGIS query (median of 7 psql runs), with the ratio.
#
#   TEST_DATABASE_URL=... bash bench/planner.sh [N]     (make bench-planner does this)
#   KEEP=1 keeps the database afterwards; REUSE=1 serves a kept one as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL (make bench-planner does)}
SHARED=${RISKMAP_SHARED_GEODATA:-geodata/boundaries}
WORK=${BENCH_DIR:-/tmp/riskmap-score-bench-$N}
DBNAME=riskmap_bench_planner
BENCH_URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
PORT=${PORT:-18091}
BIN=bin/riskmap
go build -o $BIN ./cmd/riskmap

export DATABASE_URL=$BENCH_URL
if [ "${REUSE:-}" != 1 ]; then
  psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
  $BIN migrate >/dev/null
  for l in kabupaten kecamatan desa; do $BIN import boundaries --level $l "$SHARED/jatim-$l.geojson" >/dev/null; done
  [ -s "$WORK/children.csv" ] || $BIN demo generate --households "$N" --fields 20000 --out "$WORK" >/dev/null
  $BIN import plantations "$WORK/plantations.geojson" | sed -n 1p
  $BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" | sed -n 1,2p
  psql -q "$BENCH_URL" -c "VACUUM ANALYZE"
  echo
  $BIN score
  psql -q "$BENCH_URL" -c "VACUUM ANALYZE household_mask"
fi
echo
$BIN disclosure-check | tail -1

KEY=$($BIN keys create --role planner --name "planner benchmark" 2>/dev/null)
$BIN serve --rate-limit 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; [ "${KEEP:-}" = 1 ] || psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)"' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
served() { # URL -> median seconds of 7 runs
  for i in 1 2 3 4 5 6 7; do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $KEY" "$1"
  done | median
}
raw() { # SQL -> median seconds of 7 runs (psql's own timing of the statement)
  for i in 1 2 3 4 5 6 7; do
    psql -qAt "$BENCH_URL" -c '\timing on' -c "$1" | awk '/^Time:/ {print $2 / 1000}'
  done | median
}
# The raw query is what the service runs: the count, then one page of
# GeoJSON features built by PostGIS.
rawItems() { # minx miny maxx maxy limit
  local env="ST_MakeEnvelope($1, $2, $3, $4, 4326)"
  echo "SELECT count(*) FROM household_mask hm WHERE hm.shown AND hm.geom && $env AND ST_Intersects(hm.geom, $env);
SELECT string_agg(f, ',') FROM (SELECT '{\"type\":\"Feature\",\"id\":' || to_json(hm.mask_id)::text || ',\"geometry\":' || ST_AsGeoJSON(hm.geom, 6) || ',\"properties\":' || json_build_object('village_code', hm.village_code)::text || '}' AS f
FROM household_mask hm WHERE hm.shown AND hm.geom && $env AND ST_Intersects(hm.geom, $env) ORDER BY hm.mask_id LIMIT $5) x"
}
printf "%-44s %10s %10s %8s %10s\n" "planner request" "matched" "served s" "raw s" "ratio"
while IFS='|' read -r name bbox limit; do
  IFS=, read -r x1 y1 x2 y2 <<<"$bbox"
  url="http://127.0.0.1:$PORT/collections/households/items?bbox=$bbox&limit=$limit"
  matched=$(curl -s -H "Authorization: Bearer $KEY" "$url" | grep -o '"numberMatched":[0-9]*' | cut -d: -f2 || true)
  s=$(served "$url"); r=$(raw "$(rawItems "$x1" "$y1" "$x2" "$y2" "$limit")")
  printf "%-44s %10s %10.3f %8.3f %10.2f\n" "$name (limit $limit)" "$matched" "$s" "$r" "$(awk -v a="$s" -v b="$r" 'BEGIN {print a / b}')"
done <<EOF
one village (Alasnyiur area)|113.49,-7.82,113.51,-7.80|100
one kecamatan (Besuk)|113.42,-7.83,113.52,-7.74|100
one kecamatan (Besuk)|113.42,-7.83,113.52,-7.74|10000
the whole region|112.5,-8.6,114.0,-7.5|100
EOF
s=$(served "http://127.0.0.1:$PORT/collections")
printf "%-44s %10s %10.3f\n" "/collections (extents)" "-" "$s"
