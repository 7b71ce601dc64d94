#!/usr/bin/env bash
# Benchmark: `riskmap score` on N households (default 1,000,000, about
# 2,300,000 children) and 20,000 tobacco fields over the 783 real villages of
# ../shared/geodata. Prints the time of each stage; record them in
# docs/performance.md.
#
#   TEST_DATABASE_URL=... bash bench/score.sh [N]     (make bench-score does this)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
FIELDS=${FIELDS:-20000}
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL (make bench-score does)}
SHARED=${RISKMAP_SHARED_GEODATA:-geodata/boundaries}
WORK=${BENCH_DIR:-/tmp/riskmap-score-bench-$N}
DBNAME=riskmap_bench_score
BENCH_URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
BIN=bin/riskmap
go build -o $BIN ./cmd/riskmap

psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
export DATABASE_URL=$BENCH_URL
$BIN migrate >/dev/null
$BIN import boundaries --level kabupaten "$SHARED/jatim-kabupaten.geojson" >/dev/null
$BIN import boundaries --level kecamatan "$SHARED/jatim-kecamatan.geojson" >/dev/null
$BIN import boundaries --level desa "$SHARED/jatim-desa.geojson" >/dev/null
if [ ! -s "$WORK/children.csv" ]; then
  $BIN demo generate --households "$N" --fields "$FIELDS" --out "$WORK" >/dev/null
fi
$BIN import plantations "$WORK/plantations.geojson" | sed -n 1p
$BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" | sed -n 1,2p
psql -q "$BENCH_URL" -c "VACUUM ANALYZE"
echo
echo "first run (cold):"
$BIN score
echo
echo "second run (the tables hold the previous run, which it replaces):"
$BIN score
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)"
