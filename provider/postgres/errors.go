package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stint-io/stint"
)

// ErrUsageUnobservable is returned (wrapped) by Used for grants whose use
// cannot be told apart from the role's other activity: elevation grants,
// where the workload logs in as its own existing role.
var ErrUsageUnobservable = errors.New("postgres: usage of an elevation grant cannot be observed per grant")

// SQLSTATE codes the provider acts on.
const (
	codeUndefinedObject = "42704" // role does not exist
	codeDuplicateObject = "42710" // role already exists
)

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// safeError describes err without anything from the DSN: pgx connection
// errors name the user, database and host of the configuration, and may
// quote the connection string when it cannot be parsed.
func safeError(err error) error {
	var (
		pe  *pgconn.PgError
		ce  *pgconn.ConnectError
		pce *pgconn.ParseConfigError
	)
	switch {
	case err == nil:
		return errors.New("unknown error")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out")
	case errors.Is(err, context.Canceled):
		return errors.New("canceled")
	case errors.As(err, &pe):
		return fmt.Errorf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	case errors.As(err, &ce):
		if inner := ce.Unwrap(); inner != nil {
			return fmt.Errorf("cannot connect: %w", safeError(inner))
		}
		return errors.New("cannot connect")
	case errors.As(err, &pce):
		return errors.New("invalid connection string")
	}
	return errors.New(err.Error())
}

// permanentClass reports whether a SQLSTATE means that retrying cannot help:
// syntax errors, missing objects, missing privileges (class 42), bad data
// (class 22).
func permanentClass(code string) bool {
	return strings.HasPrefix(code, "42") || strings.HasPrefix(code, "22")
}

// dbError turns a database error into a caller-safe stint error for op:
// EUNAVAILABLE, permanent when the SQLSTATE says retrying cannot help.
func (p *Provider) dbError(op string, err error) error {
	safe := safeError(err)
	e := &stint.Error{
		Code:    stint.EUNAVAILABLE,
		Message: fmt.Sprintf("postgres resource %s: %s: %v", p.cfg.resource, op, safe),
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		why := "connection failed"
		if inner := ce.Unwrap(); inner != nil {
			why = safeError(inner).Error()
		}
		e.Message = fmt.Sprintf("postgres resource %s: %s: cannot connect to the database server at %s: %s",
			p.cfg.resource, op, p.serverAddr(), why)
	}
	if permanentClass(pgCode(err)) {
		return stint.Permanent(e)
	}
	return e
}

func (p *Provider) serverAddr() string {
	if p.cfg.pool == nil {
		return "?"
	}
	cc := p.cfg.pool.ConnConfig
	return fmt.Sprintf("%s:%d", cc.Host, cc.Port)
}
