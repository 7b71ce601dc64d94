// Package postgres is riskmap's storage, composed of subjects over a small
// core: internal/postgres/core (pools, migrations, errors) and
// internal/postgres/access (API keys, the audit log, erasure and
// retention) and internal/postgres/cases (the CLMRS cycle) are packages of
// their own; scoring and publication, survey import with rounds and
// identity and the served catalogue and tiles are still files of this
// package, each to move out the same way
// (docs/architecture.md). DB puts them together, so a caller holds one
// value and calls db.Score, db.Authenticate or db.Tile alike.
// go-geom is used here, and only here, for the PostGIS wire format (EWKB
// in and out).
package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres/access"
	"github.com/kesempatan/riskmap/internal/postgres/cases"
	"github.com/kesempatan/riskmap/internal/postgres/core"
)

// The subjects' stores, under names of their own (both are Store in
// their packages).
type (
	accessStore = access.Store
	casesStore  = cases.Store
)

// DB is riskmap's database: the core's pools and each subject's store.
type DB struct {
	*core.DB
	*accessStore
	*casesStore
	// bands keeps rank bands (RankUncertainty) per data version and
	// request: simulating a national ranking takes seconds.
	bands bandCache
}

// New puts the subjects together over a core.
func New(c *core.DB) *DB {
	return &DB{DB: c, accessStore: access.New(c), casesStore: cases.New(c)}
}

// FromPool is a DB over one pool (its served reads and tiles use it too).
func FromPool(p *pgxpool.Pool) *DB { return New(&core.DB{Pool: p}) }

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string) (*DB, error) { return OpenAs(ctx, url, "", "") }

// OpenAs is Open logged in as another user (core.OpenAs).
func OpenAs(ctx context.Context, url, user, password string) (*DB, error) {
	c, err := core.OpenAs(ctx, url, user, password)
	if err != nil {
		return nil, err
	}
	return New(c), nil
}

// The core's names, where callers know them from this package.
type (
	Migration     = core.Migration
	ImportOptions = core.ImportOptions
	PullState     = core.PullState
	querier       = core.Querier
)

const localZone = core.LocalZone

func finish(ctx context.Context, tx pgx.Tx, sum *ingest.Summary, opt ImportOptions, started time.Time) error {
	return core.FinishImport(ctx, tx, sum, opt, started)
}

// The cases subject's types, where callers know them from this package.
type (
	Case         = cases.Case
	CaseQuery    = cases.CaseQuery
	CaseVisit    = cases.CaseVisit
	VisitResult  = cases.VisitResult
	PipelineArea = cases.PipelineArea
	FieldCase    = cases.FieldCase
)

const ServeRole = core.ServeRole

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) { return core.Migrations() }

// Unavailable reports whether err means that the database could not be
// used just now (core.Unavailable).
func Unavailable(err error) bool { return core.Unavailable(err) }

// The access subject's types and functions, where callers know them from
// this package.
type (
	Key             = access.Key
	AuditEntry      = access.AuditEntry
	AuditChain      = access.AuditChain
	Erasure         = access.Erasure
	HouseholdRecord = access.HouseholdRecord
	RetentionItem   = access.RetentionItem
	KeyReach        = access.KeyReach
)

// PrepareRestore readies a restored database (access.PrepareRestore).
func PrepareRestore(ctx context.Context, url string) error { return access.PrepareRestore(ctx, url) }

func wrapDB(err error) error { return core.Wrap(err) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
