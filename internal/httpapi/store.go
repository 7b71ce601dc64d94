package httpapi

import (
	"context"
	"io"
	"time"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is what the handlers ask of storage. In service it is
// *postgres.DB; the fast handler tests (store_fake_test.go) give a fake
// that needs no database, so that the route table's guard, the handlers'
// formats, scopes and audit counts are tested in `make check`. The real
// tier runs the same handlers over PostGIS.
type Store interface {
	// Served catalogue and tiles.
	DataVersion(ctx context.Context) (string, error)
	CountItems(ctx context.Context, q *postgres.ItemsQuery) (int, error)
	PageCount(ctx context.Context, q *postgres.ItemsQuery, matched int) (int, error)
	Extent(ctx context.Context, q *postgres.ItemsQuery) ([4]float64, bool, error)
	StreamFeatures(ctx context.Context, q *postgres.ItemsQuery, start func() io.Writer) (int, error)
	StreamPage(ctx context.Context, q *postgres.ItemsQuery, start func() io.Writer) (postgres.Page, error)
	StreamRows(ctx context.Context, q *postgres.ItemsQuery, header func([]string), row func([]string) error) error
	TileAt(ctx context.Context, c *postgres.Collection, z, x, y, month int, at postgres.Where) ([]byte, bool, error)
	RenderedTile(ctx context.Context, c *postgres.Collection, z, x, y, month int, generation int64) ([]byte, bool, error)
	TileCoverage(ctx context.Context, layer string) (map[uint32]struct{}, error)
	TilePieceSet(ctx context.Context, layer string, have int64) (*postgres.PieceSet, error)
	WarmTileProps(c *postgres.Collection)
	TilePropsInMemory(id string) (int64, bool)
	Labels(ctx context.Context, level string, q postgres.LabelQuery) ([]postgres.Label, error)

	// Published figures.
	Aggregates(ctx context.Context, level, parent string) ([]byte, error)
	VillageProfile(ctx context.Context, code string) ([]byte, error)
	VillageTargets(ctx context.Context, month int, area string, limit, top int, exact bool) ([]postgres.Target, postgres.NotRanked, error)
	SurveyPlan(ctx context.Context, month int, area string, top, households int, exact bool) (risk.Plan, map[string]postgres.Target, error)
	Report(ctx context.Context, level, code string, month int) (*postgres.Report, error)
	Rounds(ctx context.Context, base int) ([]postgres.Round, error)
	Pipeline(ctx context.Context) ([]postgres.PipelineArea, error)
	Releases(ctx context.Context, limit int) ([]postgres.Release, error)
	LatestRun(ctx context.Context) ([]byte, error)
	Calendar(ctx context.Context) ([]byte, error)
	CurrentModel(ctx context.Context) (*risk.Model, error)
	SchemaVersion(ctx context.Context) (current, latest int, err error)

	// Household-level data, cases, access and audit.
	Authenticate(ctx context.Context, key string) (risk.Principal, error)
	HouseholdTargets(ctx context.Context, month int, areas []string, limit int) ([]postgres.Target, error)
	Cases(ctx context.Context, q postgres.CaseQuery) ([]postgres.Case, error)
	CaseVillage(ctx context.Context, id int64) (string, error)
	CaseVisits(ctx context.Context, id int64) ([]postgres.CaseVisit, error)
	AddVisit(ctx context.Context, p risk.Principal, c risk.Cases, v risk.Visit, idempotencyKey string, today time.Time) (postgres.VisitResult, error)
	Audit(ctx context.Context, p risk.Principal, route string, params map[string][]string, records int) error
	AuditSince(ctx context.Context, since time.Time) ([]postgres.AuditEntry, error)
	EraseHousehold(ctx context.Context, e postgres.Erasure) (string, error)
}

var _ Store = (*postgres.DB)(nil)
