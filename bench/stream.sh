#!/usr/bin/env bash
# Benchmark: peak memory (VmHWM) of `riskmap serve` while a client (with an
# admin key) pages
# through 1,000,000 household features (10,000 per page, the maximum), and the
# time it takes. Households come from bench/import.sh's generated CSVs.
#
#   TEST_DATABASE_URL=... bash bench/stream.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL}
SHARED=${RISKMAP_SHARED_GEODATA:-geodata/boundaries}
WORK=${BENCH_DIR:-/tmp/riskmap-bench-$N}
DBNAME=riskmap_bench_stream
BENCH_URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
PORT=${PORT:-18089}
BIN=bin/riskmap
go build -o $BIN ./cmd/riskmap
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
export DATABASE_URL=$BENCH_URL
$BIN migrate >/dev/null
$BIN import boundaries --level desa "$SHARED/jatim-desa.geojson" >/dev/null
[ -s "$WORK/children.csv" ] || $BIN demo generate --households "$N" --out "$WORK" >/dev/null
$BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" | sed -n 1p
psql -q "$BENCH_URL" -c "VACUUM ANALYZE"

KEY=$($BIN keys create --role admin --name "stream benchmark" 2>/dev/null)
$BIN serve --rate-limit 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)"' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
echo "RSS after start: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
start=$(date +%s.%N); features=0; bytes=0
for offset in $(seq 0 10000 $((N - 1))); do
  out=$(curl -sf -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/collections/households/items?limit=10000&offset=$offset" -o /tmp/riskmap-page.json -w '%{size_download}')
  bytes=$((bytes + out))
  features=$((features + $(grep -o '"type":"Feature"' /tmp/riskmap-page.json | wc -l)))
done
end=$(date +%s.%N)
echo "paged $features household features ($((bytes / 1048576)) MiB) in $(awk -v a=$start -v b=$end 'BEGIN {printf "%.1f", b - a}') s"
echo "peak RSS of riskmap serve (VmHWM): $(awk '/VmHWM/ {print $2, $3}' /proc/$PID/status)"
