# riskmap: two commands do all the set-up on a fresh Debian machine.
#   make run    install PostgreSQL + PostGIS if missing, start a private cluster
#               under .data/, migrate, load the demo region, serve on :8080
#   make test   the same database bootstrap, then every test against it
# With DATABASE_URL set, both use that database instead of the local cluster.

SHELL := /bin/bash
GO    ?= go
BIN   := bin/riskmap
ADDR  ?= 127.0.0.1:8080
FUZZTIME ?= 10s

.PHONY: run test tools web screenshot build db fuzz vet bench bench-score bench-serve bench-growth bench-province bench-national bench-planner demo-data form clean stop

build:
	$(GO) build -o $(BIN) ./cmd/riskmap

db: build
	./$(BIN) db up
	./$(BIN) migrate

run: db
	./$(BIN) demo load --real --if-empty
	./$(BIN) serve --addr $(ADDR)

# The tests' real clients: GDAL for OGC API - Features and vector tiles,
# QGIS (python3-qgis, headless) for OGC API - Features with Basic auth,
# Debian's chromium driven by playwright-core (npm) for the map page; and
# pg_auto_failover (a monitor, a primary and a standby) for the fault tests;
# swagger-parser (npm) validates the OpenAPI document /api serves.
tools:
	@missing=""; command -v ogr2ogr >/dev/null || missing="$$missing gdal-bin"; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  /usr/bin/python3 -c 'import qgis.core' 2>/dev/null || missing="$$missing python3-qgis"; \
	  pgv=$$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1); \
	  command -v pg_autoctl >/dev/null && [ -e /usr/lib/postgresql/$$pgv/lib/pgautofailover.so ] || missing="$$missing pg-auto-failover-cli postgresql-$$pgv-auto-failover"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	    else echo "the tests need:$$missing (sudo apt-get install -y$$missing)"; exit 1; fi; fi
	cd web && npm ci --no-audit --no-fund --loglevel=error

# Refresh the vendored MapLibre GL JS from web/package.json (committed in web/static/vendor).
web:
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cp web/node_modules/maplibre-gl/dist/maplibre-gl-csp.js web/node_modules/maplibre-gl/dist/maplibre-gl-csp-worker.js \
	   web/node_modules/maplibre-gl/dist/maplibre-gl.css web/node_modules/maplibre-gl/dist/LICENSE.txt web/static/vendor/
	cp web/node_modules/pmtiles/dist/pmtiles.js web/static/vendor/

# Rewrite docs/screenshot.png from the browser test.
screenshot: db tools
	RISKMAP_SCREENSHOT=1 TEST_DATABASE_URL="$$(./$(BIN) db url)" $(GO) test -count=1 -run TestMapInBrowser ./internal/httpapi

# The tier without a database, root or outside clients, as a plain user:
# formatting, vet, staticcheck (pinned in go.mod's tool block), then every
# test that needs no PostGIS, GDAL, QGIS or Chromium, under the race
# detector (-short: a test that needs the database skips only when
# TEST_DATABASE_URL is unset, which make test never leaves it).
check: vet
	env -u TEST_DATABASE_URL $(GO) test -short -race -count=1 ./...

# The fuzz run comes first so that the last lines are the whole test run's.
test: db tools vet fuzz
	TEST_DATABASE_URL="$$(./$(BIN) db url)" $(GO) test -count=1 -parallel 4 ./...

vet:
	@unformatted=$$(gofmt -l cmd internal migrations geodata); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
# Go's fuzzer sometimes reports "context deadline exceeded" when -fuzztime
# ends while a worker is busy (minimizing a new input): that run, and only
# that kind of failure, is tried once more. A real crash fails both times,
# since the crashing input is saved under testdata/fuzz and replayed first.
FUZZ_TARGETS := internal/ingest:FuzzReadBoundaries internal/ingest:FuzzHouseholdReader internal/ingest:FuzzChildReader \
	internal/ingest:FuzzReadCalendar internal/cql2:FuzzParse
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=./$${t%%:*}; fn=$${t##*:}; \
	  echo "$(GO) test -run '^$$' -fuzz '^$$fn$$' -fuzztime $(FUZZTIME) $$pkg"; \
	  out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg 2>&1); rc=$$?; \
	  if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'context deadline exceeded'; then \
	    echo "$$fn: the fuzzer overran its time (not a crash); once more"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg 2>&1); rc=$$?; fi; \
	  if [ $$rc -eq 0 ]; then echo "$$out" | tail -3; else echo "$$out" | tail -60; exit $$rc; fi; done

# Benchmarks print figures and ratios; results go to docs/performance.md.
bench: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/import.sh

bench-score: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/score.sh

# Serving side by side with pg_featureserv, pg_tileserv and tegola on the database of
# make bench-score (else 40,000 households over the real villages): villages,
# deep and large households pages, tiles of zooms 7-14 cold and cached, p50
# and 8-client requests a second, with the memory of a zoom 7-14 sweep; and
# households pages against the raw query. The peers are PG_FEATURESERV,
# PG_TILESERV and TEGOLA (paths), else on PATH, else left out (tiles then
# against pg_tileserv's query). They are not Debian packages: build them from
# their sources (go build in a clone of CrunchyData/pg_featureserv,
# pg_tileserv; tegola: go build -mod=vendor -tags 'noGpkgProvider
# noAzblobCache noS3Cache noRedisCache noGCSCache' ./cmd/tegola in a clone of
# go-spatial/tegola).
bench-serve: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" RISKMAP_BENCH_URL="$${RISKMAP_BENCH_URL:-$$(./$(BIN) db url | sed -E 's#/[^/?]+(\?|$$)#/riskmap_bench_score\1#')}" \
	  go test -run XXX -bench 'BenchmarkServeVsPeers|BenchmarkHouseholdsPageVsRaw' -benchtime 1x -timeout 60m ./internal/httpapi

# Growth curves for docs/scale.md: import, score, tiles and pages at 100,000,
# 1,000,000 and 3,000,000 households (about 40 minutes on 2 cores).
bench-growth: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/growth.sh

# Province and national scale (docs/scale.md): every village of East Java
# with 300,000 households, or the whole country (WILAYAH_REPO: a checkout of
# cahyadsn/wilayah_boundaries) with 3,000,000; each step timed, then cold
# tiles of zooms 5-14 against pg_tileserv and tegola when PG_TILESERV and
# TEGOLA name their binaries.
bench-province: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/scale.sh province

bench-national: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/scale.sh national

# Planners' masked households with a bbox at 1,000,000 households, served vs raw.
bench-planner: db
	TEST_DATABASE_URL="$$(./$(BIN) db url)" bash bench/planner.sh

# Regenerate the committed demo region (deterministic: the files must not change).
demo-data: build
	./$(BIN) demo generate --own-region --households 2000 --out geodata/demo

# Rebuild the XLSForm workbook from geodata/forms/*.csv.
form: build
	./$(BIN) form

stop: build
	./$(BIN) db down

clean: stop
	rm -rf bin .data
