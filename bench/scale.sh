#!/usr/bin/env bash
# Province and national scale for docs/scale.md (make bench-province,
# make bench-national): real boundaries, a generated survey, and the times
# of each step on this machine.
#
#   province: every village of East Java (../shared/geodata/province, or
#             RISKMAP_PROVINCE_DIR), 300,000 households;
#   national: the whole country, converted by bench/wilayah.py from a
#             checkout of cahyadsn/wilayah_boundaries (WILAYAH_REPO),
#             3,000,000 households.
#
# Steps: boundaries import, survey import, a first scoring run and a
# re-score (with every step's time), the disclosure check, then cold tiles
# of zooms 5-14 through `riskmap serve` (tile cache off) against
# pg_tileserv on the same database when PG_TILESERV names its binary
# (bench/tiles.py), and the size of the largest tile; the PMTiles export;
# the map page's first draw, headless (web/test/first-draw.mjs). The database
# (riskmap_<scale>) is kept for looking around; HOUSEHOLDS=N overrides the
# survey's size.
#
#   TEST_DATABASE_URL=... bash bench/scale.sh province|national
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:?province or national}
ADMIN=${TEST_DATABASE_URL:?set TEST_DATABASE_URL (make bench-province does)}
BIN=bin/riskmap
PORT=${PORT:-18098}
WORK=${BENCH_DIR:-/tmp/riskmap-scale}/$SCALE
mkdir -p "$WORK"
go build -o $BIN ./cmd/riskmap
case $SCALE in
province)
  P=${RISKMAP_PROVINCE_DIR:-../shared/geodata/province}
  KAB=$P/jatim-kabupaten-all.geojson KEC=$P/jatim-kecamatan-all.geojson DESA=$P/jatim-desa-all.geojson
  N=${HOUSEHOLDS:-300000} ;;
national)
  REPO=${WILAYAH_REPO:?set WILAYAH_REPO to a checkout of https://github.com/cahyadsn/wilayah_boundaries}
  [ -s "$WORK/boundaries/desa.geojson" ] || python3 bench/wilayah.py "$REPO" "$WORK/boundaries"
  KAB=$WORK/boundaries/kabupaten.geojson KEC=$WORK/boundaries/kecamatan.geojson DESA=$WORK/boundaries/desa.geojson
  N=${HOUSEHOLDS:-3000000} ;;
*) echo "usage: bench/scale.sh province|national" >&2; exit 2 ;;
esac
DBNAME=riskmap_$SCALE
URL=$(echo "$ADMIN" | sed -E "s#/[^/?]+(\?|$)#/$DBNAME\1#")
secs() { local t0=$(date +%s.%N); "$@" >/dev/null; printf "%.1f" "$(echo "$(date +%s.%N) - $t0" | bc)"; }
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
export DATABASE_URL=$URL
$BIN migrate >/dev/null
echo "== $SCALE: $(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(psql -At "$URL" -c 'SELECT version()' | cut -d' ' -f1-2)"
echo "boundaries import: $(secs bash -c "$BIN import boundaries --level kabupaten $KAB && $BIN import boundaries --level kecamatan $KEC && $BIN import boundaries --level desa $DESA") s"
psql -At "$URL" -c "SELECT (SELECT count(*) FROM kabupaten) || ' kabupaten, ' || (SELECT count(*) FROM kecamatan) || ' kecamatan, ' || (SELECT count(*) FROM village) || ' villages, ' || (SELECT count(*) FROM tile_piece) || ' tile pieces'"
[ -s "$WORK/children.csv" ] || $BIN demo generate --households "$N" --fields $((N / 15)) --out "$WORK" >/dev/null
$BIN import plantations "$WORK/plantations.geojson" >/dev/null
echo "survey import ($N households): $(secs $BIN import survey "$WORK/households.csv" --children "$WORK/children.csv") s"
echo "-- first scoring run"; $BIN score | sed -n '/^  [a-z]/p' | grep -E "published|release|total|publish |disclosure|hotspots  "
echo "-- re-score"; $BIN score | sed -n '/^  [a-z]/p'
echo "disclosure check: $(secs $BIN disclosure-check) s"
$BIN serve --rate-limit 0 --tile-cache-mb 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
SPID=$!
PEER=-
if [ -n "${PG_TILESERV:-}" ]; then
  TS_HTTPHOST=127.0.0.1 TS_HTTPPORT=$((PORT + 1)) "$PG_TILESERV" >/dev/null 2>&1 &
  TPID=$!
  PEER=http://127.0.0.1:$((PORT + 1))
fi
trap 'kill $SPID ${TPID:-} 2>/dev/null || true' EXIT
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
[ "$PEER" = - ] || for i in $(seq 100); do curl -s -o /dev/null "$PEER/index.json" && break; sleep 0.2; done
python3 bench/tiles.py "http://127.0.0.1:$PORT" "$PEER" $(psql -At -F' ' "$URL" -c "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM village) x")
# The public layers as static files (PMTiles, GeoJSON, FlatGeobuf).
rm -rf "$WORK/export"
echo "export --pmtiles: $(secs $BIN export --pmtiles "$WORK/export") s, $(du -sm "$WORK/export" | cut -f1) MB: $(cd "$WORK/export" && ls -s --block-size=M *.pmtiles | tr '\n' ' ')"
# The map page, headless, as a first visitor sees it (tile cache on).
kill $SPID 2>/dev/null || true
$BIN serve --rate-limit 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
SPID=$!
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
if [ -x /usr/bin/chromium ] && [ -d web/node_modules ]; then
  (cd web && node test/first-draw.mjs "http://127.0.0.1:$PORT")
else
  echo "map page: not measured (make tools installs chromium and web/node_modules)"
fi
