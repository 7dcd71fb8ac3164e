// Package sqlite implements stint.Store on SQLite (modernc.org/sqlite, pure
// Go). It is the default store: one file, WAL mode, one writer connection and
// a small pool of readers.
//
// SQLite has a single writer, so every write is queued to one goroutine that
// owns the one writer connection and the audit chain's head (the last
// sequence number and hash, kept in memory so that appending a record needs
// no read). Writes queued together share a transaction (group commit), each
// in its own savepoint, so one write's failure never undoes another's.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stint-io/stint"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Defaults of the connection pools.
const (
	DefaultReaders     = 4
	DefaultBusyTimeout = 10 * time.Second
	// DefaultCacheKiB is the page cache of each connection, in KiB.
	DefaultCacheKiB = 64 << 10
)

// Log attribute keys.
const (
	logKeyPath    = "path"
	logKeyVersion = "migration"
	logKeySeq     = "audit_seq"
)

var _ stint.Store = (*Store)(nil)

// Store is a stint.Store on one SQLite file. It is safe for concurrent use
// by many goroutines in one process. Two processes may read the same file,
// but only one should write: the head of the audit chain is cached in memory
// (a second writer is detected by the chain's sequence number and costs the
// losing transaction an error, never a forked chain).
type Store struct {
	path   string
	clock  stint.Clock
	logger *slog.Logger

	wdb *sql.DB // the one writer connection
	rdb *sql.DB // read-only pool

	// Writes are queued to one writer goroutine, which owns the audit head.
	ops      chan *op
	closeMu  sync.RWMutex // held for reading while queueing, for writing by Close
	closed   bool
	running  bool // the writer goroutine was started
	quit     chan struct{}
	exited   chan struct{}
	lastSeq  int64
	lastHash string
	lastTime time.Time
	stale    bool // the head must be reloaded from the file before the next write

	stmts *stmts
}

// Open opens (creating if needed) the SQLite database at path, applies the
// embedded migrations and loads the head of the audit chain. It reads no
// grants, so it takes the same time on an empty or a large store. Returns
// EINVALID for an empty path and EUNAVAILABLE if the file cannot be opened or
// migrated.
func Open(ctx context.Context, path string, clock stint.Clock, logger *slog.Logger) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, stint.Errorf(stint.EINVALID, "sqlite: a database file path is required")
	}
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := prepareFile(path); err != nil {
		return nil, unavailable("sqlite: create database file", err)
	}
	s := &Store{
		path:   path,
		clock:  clock,
		logger: logger.With(logKeyPath, path),
		ops:    make(chan *op, 1024),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	var err error
	if s.wdb, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		return nil, unavailable("sqlite: open", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.wdb.Close()
		return nil, err
	}
	if s.rdb, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		s.wdb.Close()
		return nil, unavailable("sqlite: open readers", err)
	}
	s.rdb.SetMaxOpenConns(DefaultReaders)
	s.rdb.SetMaxIdleConns(DefaultReaders)
	s.rdb.SetConnMaxIdleTime(0)
	if s.stmts, err = prepare(ctx, s.wdb, s.rdb); err != nil {
		s.Close()
		return nil, unavailable("sqlite: prepare statements", err)
	}
	if err := s.loadHead(ctx, s.wdb); err != nil {
		s.Close()
		return nil, err
	}
	s.running = true
	go s.writer()
	s.logger.Debug("sqlite store open", logKeySeq, s.lastSeq)
	return s, nil
}

// prepareFile creates the parent directory and, for a new database, the file
// itself with mode 0600; SQLite gives the -wal and -shm files the same mode.
func prepareFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn returns the driver DSN for path. Every connection gets the same
// pragmas; the readers are query-only.
func dsn(path string, readOnly bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", DefaultBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", DefaultCacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN, so a transaction never has to upgrade.
		q.Set("_txlock", "immediate")
	}
	return "file:" + esc + "?" + q.Encode()
}

// DB returns the writer's database handle, for tests and tools (for example
// to tamper with an audit row when testing verification). Writing through it
// bypasses the store's cached audit head.
func (s *Store) DB() *sql.DB { return s.wdb }

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// Close closes the store. Calls after Close return errors.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.closeMu.Unlock()
	if s.running {
		<-s.exited
	}
	var errs []error
	if s.stmts != nil {
		errs = append(errs, s.stmts.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return internal("sqlite: close", err)
	}
	return nil
}

// loadHead reads the last audit record's seq and hash: one lookup by rowid.
func (s *Store) loadHead(ctx context.Context, q querier) error {
	var seq, t int64
	var hash string
	err := q.QueryRowContext(ctx, `SELECT seq, hash, time FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash, &t)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		s.lastSeq, s.lastHash, s.lastTime = 0, stint.GenesisHash, time.Time{}
	case err != nil:
		return unavailable("sqlite: read audit head", err)
	default:
		s.lastSeq, s.lastHash, s.lastTime = seq, hash, time.Unix(0, t).UTC()
	}
	s.stale = false
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// dbErr wraps a driver error; context errors keep their identity for
// errors.Is.
func dbErr(op string, err error) error {
	var se *stint.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ctxErr(op, err)
	}
	return internal("sqlite: "+op, err)
}

func ctxErr(op string, err error) error {
	code := stint.EUNAVAILABLE
	if errors.Is(err, context.DeadlineExceeded) {
		code = stint.ETIMEOUT
	}
	return &stint.Error{Code: code, Message: "sqlite: " + op + ": " + err.Error(), Err: err}
}

func internal(msg string, err error) error {
	return &stint.Error{Code: stint.EINTERNAL, Message: msg + " failed", Err: err}
}

func unavailable(msg string, err error) error {
	return &stint.Error{Code: stint.EUNAVAILABLE, Message: msg + " failed", Err: err}
}
