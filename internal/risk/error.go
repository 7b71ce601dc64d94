// Package risk is riskmap's domain: the nouns of the programme (villages,
// households, children, tobacco fields, the season) and the rules over them.
// It imports no database or HTTP driver.
package risk

import (
	"errors"
	"fmt"
)

// Error codes, a small set that the HTTP layer maps onto status codes.
const (
	EINVALID     = "invalid"     // the caller sent something wrong
	ENOTFOUND    = "not_found"   // no such thing
	ECONFLICT    = "conflict"    // the request clashes with the current state
	EUNAVAILABLE = "unavailable" // a dependency (the database) is down
	EINTERNAL    = "internal"    // our fault; details are logged, not shown
)

// Error is a domain error with a code and a message safe to show to a caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
