// Package postgres implements stint.Store on PostgreSQL (pgx), for running
// several replicas of the server on one database.
//
// Every method is one transaction. The audit trail is one global chain: a
// transaction that appends records first locks the one-row audit_head table
// (SELECT ... FOR UPDATE), seals its records after the head in Go and moves
// the head in the same transaction, so appends from every replica are
// serialised and the head advances only when the transaction commits. Due
// work is claimed with FOR UPDATE SKIP LOCKED and a claim lease, so two
// replicas never claim the same grant.
//
// Grant, event and discovery times are stored with microsecond precision
// (PostgreSQL's); audit record times keep their nanoseconds, which the
// record's hash covers.
package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stint-io/stint"
)

var (
	_ stint.Store             = (*Store)(nil)
	_ stint.DiscoveryStore    = (*Store)(nil)
	_ stint.EventStore        = (*Store)(nil)
	_ stint.NotifyCursorStore = (*Store)(nil)
	_ stint.ReportStore       = (*Store)(nil)
)

// Log attribute keys.
const (
	logKeyVersion = "migration"
	logKeySeq     = "audit_seq"
)

// maxRetries bounds how often a transaction that lost a deadlock or a
// serialisation conflict is retried.
const maxRetries = 3

// Store is a stint.Store on a PostgreSQL database. It is safe for concurrent
// use, and several Stores (in one process or in several replicas) may share
// one database.
type Store struct {
	pool   *pgxpool.Pool
	clock  stint.Clock
	logger *slog.Logger
}

// Open connects to the database at dsn (a postgres:// URL or a key=value
// string; pool settings such as pool_max_conns are accepted), and applies
// the embedded migrations it lacks, under an advisory lock so that replicas
// starting together do not race. Returns EINVALID for a malformed dsn and
// EUNAVAILABLE if the database cannot be reached or migrated. The dsn (which
// may hold a password) never appears in errors or logs.
func Open(ctx context.Context, dsn string, clock stint.Clock, logger *slog.Logger) (*Store, error) {
	if dsn == "" {
		return nil, stint.Errorf(stint.EINVALID, "postgres: a DSN is required")
	}
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN: keep only that it failed.
		return nil, stint.Errorf(stint.EINVALID, "postgres: malformed DSN")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("postgres: connect", err)
	}
	s := &Store{pool: pool, clock: clock, logger: logger}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailable("postgres: connect", err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool returns the connection pool, for tests and tools (for example to
// tamper with an audit row when testing verification).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the connection pool. Calls after Close return errors.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// wtx is a write transaction with the head of the audit chain once locked.
type wtx struct {
	tx     pgx.Tx
	now    time.Time
	locked bool // the audit head is locked and loaded
	dirty  bool // records were appended: the head row must be written
	seq    int64
	hash   string
	lastNs int64 // time of the last record, Unix nanoseconds
}

// write runs fn in one transaction and commits it. A transaction that lost
// a deadlock or a serialisation conflict is retried from the start, so fn
// must change nothing outside the transaction but the records it seals.
func (s *Store) write(ctx context.Context, op string, fn func(context.Context, *wtx) error) error {
	for attempt := 0; ; attempt++ {
		// READ COMMITTED whatever the database's default: the head row's lock
		// and the SKIP LOCKED rechecks rely on it.
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			w := &wtx{tx: tx, now: s.clock.Now().UTC()}
			if err := fn(ctx, w); err != nil {
				return err
			}
			return w.flushHead(ctx)
		})
		if err == nil {
			return nil
		}
		if attempt < maxRetries && retryable(err) && ctx.Err() == nil {
			s.logger.Debug("postgres transaction retried", "op", op, "attempt", attempt+1)
			continue
		}
		return dbErr(op, err)
	}
}

// retryable reports a deadlock or serialisation failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dbErr wraps a driver error. stint errors pass through; context errors
// become ETIMEOUT or EUNAVAILABLE; text the database cannot store (a NUL
// byte, invalid UTF-8) EINVALID; connection failures EUNAVAILABLE; the rest
// EINTERNAL.
func dbErr(op string, err error) error {
	var se *stint.Error
	if errors.As(err, &se) {
		return err
	}
	msg := "postgres: " + op
	if errors.Is(err, context.DeadlineExceeded) {
		return &stint.Error{Code: stint.ETIMEOUT, Message: msg + ": " + err.Error(), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &stint.Error{Code: stint.EUNAVAILABLE, Message: msg + ": " + err.Error(), Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "22021", "22P05", "22P02", "22023":
			return &stint.Error{Code: stint.EINVALID, Message: msg + ": value cannot be stored: " + pe.Message, Err: err}
		}
		if len(pe.Code) == 2+3 && (pe.Code[:2] == "08" || pe.Code[:2] == "57" || pe.Code[:2] == "53") {
			return unavailable(msg, err)
		}
		return internal(msg, err)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return unavailable(msg, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return unavailable(msg, err)
	}
	return internal(msg, err)
}

func internal(msg string, err error) error {
	return &stint.Error{Code: stint.EINTERNAL, Message: msg + " failed", Err: err}
}

func unavailable(msg string, err error) error {
	return &stint.Error{Code: stint.EUNAVAILABLE, Message: msg + " failed", Err: err}
}
