package core

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Unavailable reports whether err means that the database could not be
// used just now, as opposed to a fault of the request or of our code: the
// server is down, starting, shutting down or failing over, the network to
// it is cut, it answers as a read-only (demoted or not yet promoted)
// server, or no connection came free in time. Such a request is worth
// retrying as it was; the API answers it 503 with Retry-After.
//
// A client that went away (context.Canceled) is not unavailability: the
// caller knows from its own context.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		case pe.Code == "25006": // read_only_sql_transaction: a standby, or a primary being demoted or promoted
			return true
		case pe.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, puddle.ErrClosedPool):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		// Waiting for a connection (or for the server) past the
		// request's time: pgx reports it as the context's deadline.
		return true
	case pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	// pgconn reports a connection it has closed after a fault as "conn
	// closed" without an error type of its own, and pgxpool gives up
	// acquiring after it has dropped many (readOnlyDropped) in a row.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "too many failed attempts acquiring connection")
}

// errUnavailable is what a caller sees of an unavailable database: a
// domain error (EUNAVAILABLE) that keeps the driver's error in the chain
// for the log and for errors.As.
type errUnavailable struct{ cause error }

func (e errUnavailable) Error() string {
	return "the database is unavailable; try again shortly (" + e.cause.Error() + ")"
}

func (e errUnavailable) Unwrap() []error {
	return []error{risk.Errorf(risk.EUNAVAILABLE, "the database is unavailable; try again shortly"), e.cause}
}

// Wrap marks errors that mean "the database cannot be used just now"
// (Unavailable) as EUNAVAILABLE, so that the API answers 503 and the
// command line says to try again, keeping the cause in the chain.
func Wrap(err error) error {
	if err == nil || !Unavailable(err) || risk.ErrorCode(err) == risk.EUNAVAILABLE {
		return err
	}
	return errUnavailable{cause: err}
}
