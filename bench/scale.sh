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
# pg_tileserv and tegola on the same database when PG_TILESERV and TEGOLA
# name their binaries (bench/tilerace, a Go client), and the size of the largest tile; the PMTiles export;
# the map page's first draw, headless (web/test/first-draw.mjs). The database
# (riskmap_<scale>) is kept for looking around; HOUSEHOLDS=N overrides the
# survey's size; TILES_ONLY=1 keeps the database of an earlier run, renders
# its tiles again and measures the tile race and the map page.
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
go build -o bin/tilerace ./bench/tilerace
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
export DATABASE_URL=$URL
if [ -n "${TILES_ONLY:-}" ]; then
  # The database of an earlier run, as it is: render its tiles with this
  # build, then race them.
  echo "== $SCALE (tiles only): $(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(psql -At "$URL" -c 'SELECT version()' | cut -d' ' -f1-2)"
  $BIN migrate >/dev/null
  $BIN render-tiles
else
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME" 2>/dev/null
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
fi
$BIN serve --rate-limit 0 --tile-cache-mb 0 --addr 127.0.0.1:$PORT >/dev/null 2>&1 &
SPID=$!
PEERS=""
if [ -n "${PG_TILESERV:-}" ]; then
  TS_HTTPHOST=127.0.0.1 TS_HTTPPORT=$((PORT + 1)) "$PG_TILESERV" >/dev/null 2>&1 &
  TPID=$!
  PEERS="pg_tileserv=http://127.0.0.1:$((PORT + 1))"
  for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))/index.json" && break; sleep 0.2; done
fi
if [ -n "${TEGOLA:-}" ]; then
  # tegola's PostGIS provider over the same tables and columns pg_tileserv
  # serves (tegola clips and simplifies in Go), no cache.
  {
    printf '[webserver]\nport = "127.0.0.1:%s"\n\n[[providers]]\nname = "pg"\ntype = "postgis"\nuri = "%s"\nsrid = 4326\n' $((PORT + 2)) "$URL"
    for l in "village:code, name, kecamatan_code, kabupaten_code" "kecamatan:code, name, kabupaten_code" "kabupaten:code, name"; do
      printf '\n[[providers.layers]]\nname = "%s"\ngeometry_type = "MultiPolygon"\nsrid = 4326\nsql = "SELECT ST_AsBinary(geom) AS geom, %s FROM %s WHERE geom && !BBOX!"\n' "${l%%:*}" "${l#*:}" "${l%%:*}"
    done
    printf '\n[[maps]]\nname = "riskmap"\n'
    # Each layer from the zoom riskmap draws it at (catalog.TileLayers):
    # under it tegola answers an empty tile, as riskmap does.
    for t in village:8 kecamatan:6 kabupaten:0; do printf '\n[[maps.layers]]\nprovider_layer = "pg.%s"\nmin_zoom = %s\nmax_zoom = 22\n' "${t%%:*}" "${t#*:}"; done
  } > "$WORK/tegola.toml"
  "$TEGOLA" serve --config "$WORK/tegola.toml" --no-cache >/dev/null 2>&1 &
  GPID=$!
  PEERS="${PEERS:+$PEERS,}tegola=http://127.0.0.1:$((PORT + 2))"
  for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 2))/capabilities" && break; sleep 0.2; done
fi
trap 'kill $SPID ${TPID:-} ${GPID:-} 2>/dev/null || true' EXIT
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
# As a service that has been running: the tile coverage and the tile
# properties read into memory (riskmap_tile_layers_ready, all four tile
# collections over areas), a few seconds at national size. The database's
# caches stay as cold as the peers'.
for i in $(seq 600); do
  [ "$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1 == "riskmap_tile_layers_ready" {print $2}')" = 4 ] && break; sleep 0.2
done
PEER=${PEERS:--}
bin/tilerace "http://127.0.0.1:$PORT" "$PEER" $(psql -At -F' ' "$URL" -c "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM village) x")
# The public layers as static files (PMTiles, GeoJSON, FlatGeobuf).
[ -n "${TILES_ONLY:-}" ] || rm -rf "$WORK/export"
[ -n "${TILES_ONLY:-}" ] || echo "export --pmtiles: $(secs $BIN export --pmtiles "$WORK/export") s, $(du -sm "$WORK/export" | cut -f1) MB: $(cd "$WORK/export" && ls -s --block-size=M *.pmtiles | tr '\n' ' ')"
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
