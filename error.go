package stint

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP edge maps them to statuses, the CLI to exit codes, and
// the client SDK maps statuses back, so an error round-trips.
const (
	EINVALID      = "invalid"      // bad input: 400, exit 2
	EUNAUTHORIZED = "unauthorized" // no or bad credentials: 401, exit 5
	EDENIED       = "denied"       // policy or permission said no: 403, exit 3
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // a transition the state does not allow: 409
	ETIMEOUT      = "timeout"      // waited too long: exit 4
	EUNAVAILABLE  = "unavailable"  // a dependency (provider, store) failed: 503
	EINTERNAL     = "internal"     // anything else: 500, exit 1
)

// Error is the domain error. Its Message is safe to show to the caller; an
// internal cause is wrapped in Err, logged, and never shown.
type Error struct {
	Code    string
	Message string
	Err     error // internal cause, may be nil; never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the Message of the
// first *Error in its chain, or a generic text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// PermanentError marks a provider error that retrying cannot fix (a role that
// does not exist, a rejected configuration). Errors not marked permanent are
// treated as transient and retried with backoff where retrying applies.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// FieldError is a validation error about one configuration field. Field is a
// dotted path from the root of the configuration element being validated
// (for a provider: from its resource, for example "roles.readonly.grant").
// internal/config turns the path into file:line.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldErrors is a list of validation errors, all reported at once.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// Add appends a FieldError.
func (es *FieldErrors) Add(field, format string, args ...any) {
	*es = append(*es, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns es as an error, or nil when it is empty.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
