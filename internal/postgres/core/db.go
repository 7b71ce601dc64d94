// Package core is the small core of riskmap's storage that every subject
// shares: the pgx pools over PostGIS (writes, served reads, tiles, and a
// read replica), the migrations runner, and the errors that mark an
// unavailable database while keeping the driver's error in the chain.
// The subjects (access and audit in internal/postgres/access; scoring,
// import, cases and the served catalogue still in internal/postgres) build
// on it.
package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kesempatan/riskmap/migrations"
)

// DB is riskmap's database.
//
// It holds three pools, one per kind of work, because PostgreSQL's plan
// cache serves each kind best with a different setting (OpenAs):
// Pool takes writes, imports, scoring, audit and keys with PostgreSQL's
// own plan caching; served reads (pages, aggregates, cases) get a custom
// plan every time; tiles keep one generic plan.
type DB struct {
	Pool          *pgxpool.Pool
	served, tiles *pgxpool.Pool
	// replica, when set, takes the reads of what is served (features,
	// tiles, aggregates, cases): a streaming-replication hot standby (serve
	// --read-database-url). Writes (audit, visits, erasures) and API keys
	// stay on Pool, the primary: a key revoked there is revoked at once.
	replica *DB
}

// Reader is the pool for served reads.
func (db *DB) Reader() *pgxpool.Pool {
	if db.replica != nil {
		return db.replica.Reader()
	}
	return orPool(db.served, db.Pool)
}

// TileReader is the pool for served tiles.
func (db *DB) TileReader() *pgxpool.Pool {
	if db.replica != nil {
		return db.replica.TileReader()
	}
	return orPool(db.tiles, db.Pool)
}

// orPool is p, or Pool for a DB made around one pool (&DB{Pool: p}).
func orPool(p, pool *pgxpool.Pool) *pgxpool.Pool {
	if p != nil {
		return p
	}
	return pool
}

// AttachReplica sends served reads to a hot standby, logged in as user.
// The standby must be a replica of this database (pg_basebackup -R):
// served figures may lag the primary by the replication delay.
func (db *DB) AttachReplica(ctx context.Context, url, user, password string) error {
	r, err := OpenAs(ctx, url, user, password)
	if err != nil {
		return fmt.Errorf("read replica: %w", err)
	}
	// A multi-host URL with target_session_attrs=prefer-standby (reads of
	// a pg_auto_failover formation) lands on a standby while there is one
	// and on the primary while there is none: both are what was asked.
	if strings.Contains(url, "target_session_attrs=prefer-standby") {
		db.replica = r
		return nil
	}
	var standby bool
	if err := r.Pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		r.Close()
		return fmt.Errorf("read replica: %w", err)
	}
	if !standby {
		r.Close()
		return fmt.Errorf("read replica: %s is not a standby (pg_is_in_recovery() is false): give a hot standby, or leave --read-database-url out", url)
	}
	db.replica = r
	return nil
}

// ServeRole is the database role the HTTP service logs in as (migrations
// 005 and 006): it reads what is published, appends to the audit log, and
// can do nothing else.
const ServeRole = "riskmap_serve"

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string) (*DB, error) { return OpenAs(ctx, url, "", "") }

// OpenAs is Open logged in as another user (with its own password, if
// any): the session is that user's, so no RESET ROLE can take it back to
// the URL's user. An empty user changes nothing.
func OpenAs(ctx context.Context, url, user, password string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "riskmap"
	// JIT compiling pays off for queries that run for seconds over many
	// rows; riskmap's served queries run for milliseconds, and the planner's
	// cost for a page bounded by LIMIT over a large join (a 10,000-household
	// page: 72 ms of JIT in 640 ms) sets it off where it only costs.
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	if user != "" {
		cfg.ConnConfig.User, cfg.ConnConfig.Password = user, password
	}
	if wantsWritable(url) {
		cfg.PrepareConn = dropReadOnly
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	db := &DB{Pool: pool}
	// Served reads: pgx prepares every statement, and after five runs
	// PostgreSQL may switch to a generic plan that ignores the parameters'
	// values; the best plan for a village-sized bbox is not the best for the
	// whole region (a planner's region-wide page at 1,000,000 households:
	// 2.7 s generic, 35 ms custom). Planning these queries takes about a
	// millisecond. Not for Pool: a foreign-key check is a cached plan too,
	// and planning it for every row made a survey import's children cost
	// 35 us a row instead of 8.
	//
	// Tile queries are the other way round: their plan is the same for
	// every tile (a lookup of the tile's pieces, or a GiST probe of
	// tile_geom, then joins by key), and planning it afresh cost 1.5-2.3 ms
	// against 1 ms of execution at zoom 14: they keep one generic plan.
	// Both pools open connections only when used.
	for _, p := range []struct {
		pool **pgxpool.Pool
		mode string
	}{{&db.served, "force_custom_plan"}, {&db.tiles, "force_generic_plan"}} {
		c := cfg.Copy()
		c.ConnConfig.RuntimeParams["plan_cache_mode"] = p.mode
		if *p.pool, err = pgxpool.NewWithConfig(ctx, c); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect: %w", err)
		}
	}
	return db, nil
}

// wantsWritable reports whether the URL asks for a writable server
// (target_session_attrs=read-write or primary, as a multi-host URL to a
// pg_auto_failover formation does).
func wantsWritable(url string) bool {
	for _, v := range []string{"target_session_attrs=read-write", "target_session_attrs=primary"} {
		if strings.Contains(url, v) {
			return true
		}
	}
	return false
}

// dropReadOnly keeps a pool that asked for a writable server on one: a
// pooled connection whose server has since become read-only (a primary
// being demoted, or a standby: the server reports in_hot_standby and
// default_transaction_read_only to its clients) is dropped before use,
// and pgxpool takes another, connecting anew through
// target_session_attrs to whichever server is now the primary.
// target_session_attrs alone is checked only when a connection opens.
func dropReadOnly(_ context.Context, c *pgx.Conn) (bool, error) {
	pc := c.PgConn()
	return pc.ParameterStatus("in_hot_standby") != "on" && pc.ParameterStatus("default_transaction_read_only") != "on", nil
}

// Close closes the pools.
func (db *DB) Close() {
	for _, p := range []*pgxpool.Pool{db.Pool, db.served, db.tiles} {
		if p != nil {
			p.Close()
		}
	}
	if db.replica != nil {
		db.replica.Close()
	}
}

// migrationLock is the advisory-lock key that serialises migrations.
const migrationLock = 0x7269736b6d6170 // "riskmap"

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", name)
		}
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// Migrate applies the migrations not yet applied, each in its own
// transaction, under an advisory lock so concurrent runs wait for each other.
// It returns the names it applied; running it twice applies nothing.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migration (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migration WHERE version = $1)", m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
			applied = append(applied, m.Name)
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	return applied, nil
}

// SchemaVersion returns the highest applied migration and the highest known one.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	ms, err := Migrations()
	if err != nil {
		return 0, 0, err
	}
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	err = db.Pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migration").Scan(&current)
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P01" {
		return 0, latest, nil
	}
	return current, latest, err
}
