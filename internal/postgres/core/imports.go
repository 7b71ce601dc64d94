package core

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kesempatan/riskmap/internal/ingest"
)

// LocalZone is the programme's time zone: a survey's or a visit's date is
// its date there.
const LocalZone = "Asia/Jakarta"

// Querier is what both a pool and a transaction can do.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ImportOptions control every import.
type ImportOptions struct {
	// Partial loads the good rows and returns the bad ones in the summary;
	// without it any bad row makes the import change nothing.
	Partial  bool
	Progress ingest.Progress
	// Synthetic marks generated (demo) data: the scoring runs over it, and
	// every figure served from them, say so.
	Synthetic bool
}

// Step reports an import's progress, if anyone listens.
func (o ImportOptions) Step(stage string, n int64) {
	if o.Progress != nil {
		o.Progress(stage, n)
	}
}

// FinishImport decides the fate of an import's transaction: with rejected rows and
// no Partial it rolls back and returns them as the error.
func FinishImport(ctx context.Context, tx pgx.Tx, sum *ingest.Summary, opt ImportOptions, started time.Time) error {
	if len(sum.Rejected) > 0 && !opt.Partial {
		return sum.Rejected
	}
	if sum.Inserted+sum.Updated == 0 {
		return &ingest.NothingLoaded{File: sum.File, Read: sum.Read, Rejected: len(sum.Rejected), Skipped: sum.Skipped}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO import_run (kind, file, started_at, inserted, updated, repaired, rejected, synthetic)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sum.Kind, sum.File, started, sum.Inserted, sum.Updated, len(sum.Repaired), len(sum.Rejected), opt.Synthetic); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PullState is where a server pull stopped.
type PullState struct {
	Source      string
	Cursor      string
	Submissions int
}
