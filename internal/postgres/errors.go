package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kesempatan/riskmap/internal/risk"
)

// wrapDB marks errors that mean "the database cannot be reached" as
// EUNAVAILABLE, so that the API answers 503 and tries again later, keeping
// the cause for the log.
func wrapDB(err error) error {
	if err == nil {
		return nil
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	down := errors.As(err, &ce) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		(errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")))
	if down {
		return fmt.Errorf("%w (%v)", risk.Errorf(risk.EUNAVAILABLE, "the database is unavailable; try again shortly"), err)
	}
	return err
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
