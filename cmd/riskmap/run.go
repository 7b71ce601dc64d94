package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/httpapi"
	"github.com/kesempatan/riskmap/internal/localdb"
	"github.com/kesempatan/riskmap/internal/postgres"
)

// command is one subcommand of riskmap.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets: the outside world, passed in so that
// tests can run the binary's code in-process.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

func commands() map[string]command {
	return map[string]command{
		"serve":            {"serve the HTTP API and the map", serveCmd},
		"targets":          {"rank villages or households to visit in a month", targetsCmd},
		"migrate":          {"apply the database migrations", migrateCmd},
		"score":            {"run the risk model: classify children, score households and villages, find hotspots", scoreCmd},
		"import":           {"import boundaries, surveys, tobacco fields or the labour calendar", importCmd},
		"demo":             {"load or generate the demo region", demoCmd},
		"db":               {"start, stop or locate the private local PostGIS cluster", dbCmd},
		"keys":             {"create, list or revoke API keys (roles planner, staff, admin)", keysCmd},
		"audit":            {"print or verify the log of responses that held household- or child-level data", auditCmd},
		"evaluate":         {"simulate surveys and measure how well each ranking rule finds the worst villages", evaluateCmd},
		"plan-survey":      {"propose where to survey next so that the top-K villages become more certain", planSurveyCmd},
		"render-tiles":     {"render the published map's low-zoom tiles again (after boundaries are imported, or riskmap upgraded)", renderTilesCmd},
		"disclosure-check": {"audit what the public and planners are served: can any withheld or small count be recovered?", disclosureCheckCmd},
		"form":             {"write the household survey XLSForm for KoBoToolbox or ODK Central", formCmd},
		"cases":            {"list the CLMRS cases, or the follow-up visits due and overdue", casesCmd},
		"households":       {"erase a household (consent withdrawn) or export what is held about it (access request)", householdsCmd},
		"retention":        {"list or erase households past the retention period", retentionCmd},
		"export":           {"write the public layers as PMTiles and GeoJSON files for a CDN or object store", exportCmd},
		"backup":           {"write the database to a (possibly encrypted) backup file", backupCmd},
		"restore":          {"restore a backup into an empty database", restoreCmd},
	}
}

// run is the whole program; main only calls it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	cmds := commands()
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "riskmap maps child-labour risk across tobacco-growing villages.")
		fmt.Fprintln(w, "\nUsage: riskmap <command> [flags]; riskmap <command> --help for its flags.\n\nCommands:")
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
		}
		fmt.Fprintln(w, "\nEvery command uses DATABASE_URL, or else the local cluster under ./.data (see 'riskmap db').")
	}
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	err := c.run(ctx, e, args[1:])
	if postgres.Unavailable(err) && ctx.Err() == nil {
		// An import is one transaction per file and a scoring run one
		// transaction: the one that was cut left nothing behind.
		return fmt.Errorf("%w\nthe database became unavailable (a restart or a failover?): the transaction it cut was rolled back whole; run the command again", err)
	}
	return err
}

// flags returns a flag set whose --help prints the command's synopsis.
func (e *env) flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("riskmap "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", synopsis)
		var has bool
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// databaseURL is DATABASE_URL, or the local cluster's URL.
func (e *env) databaseURL() string {
	if u := e.getenv("DATABASE_URL"); u != "" {
		return u
	}
	return localdb.FromEnv(e.getenv).URL()
}

func (e *env) open(ctx context.Context) (*postgres.DB, error) {
	db, err := postgres.Open(ctx, e.databaseURL())
	if err != nil && e.getenv("DATABASE_URL") == "" {
		return nil, fmt.Errorf("%w\n(the local cluster is not running: start it with 'riskmap db up' or 'make run', or set DATABASE_URL)", err)
	}
	return db, err
}

func dbCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("db", "db up|down|url\n\n  up    install PostgreSQL + PostGIS if missing (as root), create and start the\n        cluster under $RISKMAP_DATA/pg (default .data/pg), create database riskmap\n  down  stop the cluster\n  url   print the database URL every command uses\n\nWith DATABASE_URL set, up and down do nothing to the local cluster.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := localdb.FromEnv(e.getenv)
	switch fs.Arg(0) {
	case "up":
		if e.getenv("DATABASE_URL") != "" {
			db, err := postgres.Open(ctx, e.databaseURL())
			if err != nil {
				return err
			}
			db.Close()
			return nil
		}
		return c.Up(ctx, e.stderr)
	case "down":
		if e.getenv("DATABASE_URL") != "" {
			return nil
		}
		return c.Down(ctx)
	case "url":
		fmt.Fprintln(e.stdout, e.databaseURL())
		return nil
	default:
		fs.Usage()
		return errors.New("db: want up, down or url")
	}
}

func migrateCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("migrate", "migrate\n\nApplies the embedded SQL migrations not yet applied, in order, each in a\ntransaction, under an advisory lock. Running it twice changes nothing.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintf(e.stdout, "applied %s\n", name)
	}
	if err == nil && len(applied) == 0 {
		fmt.Fprintln(e.stdout, "schema is up to date")
	}
	return err
}

func serveCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve", "serve [--addr 127.0.0.1:8080] [--cors-origin ORIGIN] [--request-timeout 2m] [--basemap URL]\n\nHousehold-level data is served only to API keys of role staff (their areas) or admin\n(see 'riskmap keys'); every such response is recorded in the audit log.")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	cors := fs.String("cors-origin", "", "comma-separated origins allowed to read the API from a browser (* for any)")
	timeout := fs.Duration("request-timeout", 2*time.Minute, "longest a request (and its queries) may take")
	tileCache := fs.Int("tile-cache-mb", 64, "memory for encoded, compressed vector tiles, kept per data version (0: no cache)")
	pageCache := fs.Int("page-cache-mb", 32, "memory for compressed public GeoJSON pages, kept per data version (0: no cache; household pages are never kept)")
	rate := fs.Int("rate-limit", 6000, "requests a minute per API key, or per client address without one (0: no limit); a map view fetches dozens of tiles at once")
	basemap := fs.String("basemap", "", "XYZ raster tile URL template for the map page's background (default: none)")
	pmtilesURL := fs.String("pmtiles-url", "", "where the files of 'riskmap export --pmtiles' are served: the map page draws villages and kecamatan from those archives (default: from /tiles)")
	publicURL := fs.String("public-url", "", "the URL clients reach the service at, for links (default: http://ADDR)")
	serveURL := fs.String("serve-database-url", e.getenv("SERVE_DATABASE_URL"), "database URL to log in with as "+postgres.ServeRole+
		" (default: DATABASE_URL with that user and RISKMAP_SERVE_PASSWORD)")
	readURL := fs.String("read-database-url", e.getenv("READ_DATABASE_URL"), "a streaming-replication hot standby of the database (pg_basebackup -R) to send the served reads to; "+
		"audit, visits, erasures and API keys stay on the primary (logged in as "+postgres.ServeRole+" as on the primary)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	// The service logs in as a role that can read and audit, not change
	// data or the schema; migrations run apart, as the owner.
	var db *postgres.DB
	var err error
	if *serveURL != "" {
		db, err = postgres.Open(ctx, *serveURL)
	} else {
		db, err = postgres.OpenAs(ctx, e.databaseURL(), postgres.ServeRole, e.getenv("RISKMAP_SERVE_PASSWORD"))
	}
	if err != nil {
		logger.Warn("cannot log in as the restricted role; serving with the owner's privileges (run riskmap migrate as a user that may create roles, and give the role a password: ALTER ROLE riskmap_serve PASSWORD ...)",
			"role", postgres.ServeRole, "err", err)
		if db, err = e.open(ctx); err != nil {
			return err
		}
	}
	defer db.Close()
	if *readURL != "" {
		user, password := postgres.ServeRole, e.getenv("RISKMAP_SERVE_PASSWORD")
		if err := db.AttachReplica(ctx, *readURL, user, password); err != nil {
			return err
		}
		logger.Info("served reads go to the hot standby", "read_database", redactURL(*readURL))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = "http://" + ln.Addr().String()
	}
	api := httpapi.NewServer(db, logger, httpapi.Options{
		CORSOrigins: splitList(*cors), RequestTimeout: *timeout, BasemapURL: *basemap, PMTilesURL: *pmtilesURL, RatePerMinute: *rate, PublicURL: *publicURL,
		TileCacheBytes: cacheBytes(*tileCache), PageCacheBytes: cacheBytes(*pageCache),
	})
	api.WarmTiles(ctx)
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		IdleTimeout:       2 * time.Minute,
	}
	logger.Info("serving", "url", "http://"+ln.Addr().String())
	fmt.Fprintf(e.stdout, "riskmap serving on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger.Info("shutting down")
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// isTerminal reports whether w is a terminal, to decide on a progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cacheBytes turns --tile-cache-mb or --page-cache-mb into
// httpapi.Options' bound (whose 0 means the default and a negative value
// no cache).
func cacheBytes(mb int) int64 {
	if mb <= 0 {
		return -1
	}
	return int64(mb) << 20
}

// redactURL drops a URL's password for the log.
func redactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
