// Package postgres is riskmap's storage, composed of subjects over a small
// core. Each is a package of its own:
//   - core: the pools, migrations, errors that keep the driver's error,
//     what every import shares, the latest run's model, and EWKB (go-geom
//     is used in core/wkb.go, and only there);
//   - access: API keys, the audit log, erasure and retention;
//   - cases: the CLMRS cycle;
//   - catalog: what is served (features, tiles, aggregates, rankings,
//     reports);
//   - imports: boundaries, plantations, calendars and the survey with its
//     rounds and identity;
//   - scoring: the scoring run, what it publishes and the release ledger.
//
// This package only composes them (docs/architecture.md): DB embeds the
// core and every subject's store, so a caller holds one value and calls
// db.Score, db.Authenticate or db.Tile alike, and the names below let
// callers keep saying postgres.Collection or postgres.Case.
package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kesempatan/riskmap/internal/cql2"
	"github.com/kesempatan/riskmap/internal/postgres/access"
	"github.com/kesempatan/riskmap/internal/postgres/cases"
	"github.com/kesempatan/riskmap/internal/postgres/catalog"
	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/postgres/imports"
	"github.com/kesempatan/riskmap/internal/postgres/scoring"
)

// The subjects' stores, under names of their own (each is Store in its
// package).
type (
	accessStore  = access.Store
	casesStore   = cases.Store
	catalogStore = catalog.Store
	importsStore = imports.Store
	scoringStore = scoring.Store
)

// DB is riskmap's database: the core's pools and each subject's store.
type DB struct {
	*core.DB
	*accessStore
	*casesStore
	*catalogStore
	*importsStore
	*scoringStore
}

// New puts the subjects together over a core.
func New(c *core.DB) *DB {
	return &DB{DB: c, accessStore: access.New(c), casesStore: cases.New(c), catalogStore: catalog.New(c),
		importsStore: imports.New(c), scoringStore: scoring.New(c)}
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

// The core's names.
type (
	Migration     = core.Migration
	ImportOptions = core.ImportOptions
	PullState     = core.PullState
)

// ServeRole is the database role the HTTP service logs in as.
const ServeRole = core.ServeRole

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) { return core.Migrations() }

// Unavailable reports whether err means that the database could not be
// used just now (core.Unavailable).
func Unavailable(err error) bool { return core.Unavailable(err) }

// The access subject's names.
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

// The cases subject's names.
type (
	Case         = cases.Case
	CaseQuery    = cases.CaseQuery
	CaseVisit    = cases.CaseVisit
	VisitResult  = cases.VisitResult
	PipelineArea = cases.PipelineArea
	FieldCase    = cases.FieldCase
)

// The imports subject's names.
type SurveyImport = imports.SurveyImport

// The scoring subject's names.
type (
	ScoreRun = scoring.ScoreRun
	Release  = scoring.Release
)

// The catalogue's names.
type (
	Collection = catalog.Collection
	Coverage   = catalog.Coverage
	PieceSet   = catalog.PieceSet
	MemProps   = catalog.MemProps
	Where      = catalog.Where
	ItemsQuery = catalog.ItemsQuery
	Scope      = catalog.Scope
	SortKey    = catalog.SortKey
	Page       = catalog.Page
	Label      = catalog.Label
	LabelQuery = catalog.LabelQuery
	Target     = catalog.Target
	NotRanked  = catalog.NotRanked
	Report     = catalog.Report
	ReportArea = catalog.ReportArea
	Round      = catalog.Round
)

const (
	GeometryQueryable = catalog.GeometryQueryable
	RenderedMaxZoom   = catalog.RenderedMaxZoom
	ReportTop         = catalog.ReportTop
)

// TileLayers are the layers served as tiles, with their zooms.
var TileLayers = catalog.TileLayers

func Collections() []*Collection                      { return catalog.Collections() }
func MaskedHouseholds() *Collection                   { return catalog.MaskedHouseholds() }
func CheckTile(z, x, y int) error                     { return catalog.CheckTile(z, x, y) }
func NewCoverage(cov map[uint32]struct{}) *Coverage   { return catalog.NewCoverage(cov) }
func LonLatToTile(lon, lat float64, z int) (x, y int) { return catalog.LonLatToTile(lon, lat, z) }
func ReleaseOf(version string) string                 { return catalog.ReleaseOf(version) }

// InteriorSquare is the piece of a tile wholly inside one area.
const InteriorSquare = catalog.InteriorSquare

func GenerationOf(version string) int64           { return catalog.GenerationOf(version) }
func Rendered(c *Collection, z int) bool          { return catalog.Rendered(c, z) }
func Recipe(c *Collection) string                 { return catalog.Recipe(c) }
func TileFields(c *Collection) []catalog.Property { return catalog.TileFields(c) }
func TileSQL(c *Collection) string                { return catalog.TileSQL(c) }
func UncutTileSQL(c *Collection) string           { return catalog.UncutTileSQL(c) }
func PieceTileSQL(c *Collection) string           { return catalog.PieceTileSQL(c) }
func TileCut(layer string, z int) bool            { return catalog.TileCut(layer, z) }
func PropsTileSQL(c *Collection) string           { return catalog.PropsTileSQL(c) }
func HasTileProps(c *Collection) bool             { return catalog.HasTileProps(c) }
func CompileFilter(c *Collection, e cql2.Expr) (catalog.Filter, error) {
	return catalog.CompileFilter(c, e)
}
