#!/usr/bin/env bash
# Benchmark: import N households (default 1,000,000) with their children from
# generated KoBoToolbox CSVs into the 783 real villages of ../shared/geodata,
# and compare with psql \copy of the same rows into the same tables.
# Prints figures and ratios; record them in docs/performance.md.
#
#   TEST_DATABASE_URL=... bash bench/import.sh [N]     (make bench does this)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL (make bench does)}
SHARED=${RISKMAP_SHARED_GEODATA:-geodata/boundaries}
WORK=${BENCH_DIR:-/tmp/riskmap-bench-$N}
DBNAME=riskmap_bench
BENCH_URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
BIN=bin/riskmap
go build -o $BIN ./cmd/riskmap

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
export DATABASE_URL=$BENCH_URL
$BIN migrate >/dev/null
$BIN import boundaries --level kecamatan "$SHARED/jatim-kecamatan.geojson" >/dev/null
$BIN import boundaries --level desa "$SHARED/jatim-desa.geojson" >/dev/null

if [ ! -s "$WORK/children.csv" ]; then
  t0=$(now); $BIN demo generate --households "$N" --out "$WORK" >/dev/null; t1=$(now)
  echo "generated $N households in $(secs $t0 $t1) s"
fi
HH_BYTES=$(stat -c %s "$WORK/households.csv"); CH_BYTES=$(stat -c %s "$WORK/children.csv")
CHILDREN=$(( $(wc -l < "$WORK/children.csv") - 1 ))

t0=$(now)
$BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" > "$WORK/import.out"
t1=$(now)
IMPORT=$(secs $t0 $t1)
head -2 "$WORK/import.out"

t0=$(now)
$BIN import survey "$WORK/households.csv" --children "$WORK/children.csv" > /dev/null
t1=$(now)
REIMPORT=$(secs $t0 $t1)

# Baseline: the same rows, as PostgreSQL's own text format, into the same
# tables (same indexes, same foreign key), with psql \copy.
psql -q "$BENCH_URL" -c "\copy household TO '$WORK/household.copy'" -c "\copy child TO '$WORK/child.copy'" \
     -c "TRUNCATE household CASCADE" 2>/dev/null
t0=$(now)
psql -q "$BENCH_URL" -c "\copy household FROM '$WORK/household.copy'"
t1=$(now)
psql -q "$BENCH_URL" -c "\copy child FROM '$WORK/child.copy'"
t2=$(now)
COPY_HH=$(secs $t0 $t1); COPY_CH=$(secs $t1 $t2); COPY=$(secs $t0 $t2)

echo
echo "households:               $N ($(( HH_BYTES / 1048576 )) MiB CSV), children: $CHILDREN ($(( CH_BYTES / 1048576 )) MiB CSV)"
echo "riskmap import survey:    $IMPORT s  ($(calc %.0f "$N / $IMPORT") household rows/s, $(calc %.0f "($N + $CHILDREN) / $IMPORT") rows/s in all)"
echo "riskmap re-import:        $REIMPORT s  (every household updated, every child replaced)"
echo "psql \\copy households:    $COPY_HH s"
echo "psql \\copy children:      $COPY_CH s"
echo "psql \\copy total:         $COPY s  ($(calc %.0f "$N / $COPY") household rows/s)"
echo "ratio import / \\copy:     $(calc %.2f "$IMPORT / $COPY")"
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)"
