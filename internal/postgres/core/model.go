package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// LatestModel is the model of the latest scoring run, read through q (a
// pool or the run's own transaction): ENOTFOUND before any run, EINVALID
// when the stored model no longer parses (never the default in its place).
func LatestModel(ctx context.Context, q Querier) (*risk.Model, error) {
	var b []byte
	err := q.QueryRow(ctx, `SELECT model FROM score_run ORDER BY id DESC LIMIT 1`).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, risk.Errorf(risk.ENOTFOUND, "nothing is published yet: run riskmap score first")
	}
	if err != nil {
		return nil, Wrap(err)
	}
	m, err := risk.ParseModel(b, "the latest scoring run's model")
	if err != nil {
		return nil, risk.Errorf(risk.EINVALID, "%v (the run predates this version of riskmap: run riskmap score again, or pass --model)", err)
	}
	return m, nil
}
