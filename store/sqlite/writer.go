package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/stint-io/stint"
)

// maxBatch bounds how many queued writes share one transaction.
const maxBatch = 256

// op is one queued write: an exported method's transaction.
type op struct {
	ctx  context.Context
	name string
	fn   func(context.Context, *wtx) error
	done chan error
}

// wtx is the transaction ops run in, with the tentative head of the audit
// chain and the time the transaction started.
type wtx struct {
	tx       *sql.Tx
	seq      int64
	hash     string
	lastTime time.Time // of the last record appended
	now      time.Time
	stmts    map[*sql.Stmt]*sql.Stmt // prepared statements bound to tx
	// after runs once the transaction has committed (version increments).
	after []func()
}

// stmt returns st bound to the transaction, binding it once.
func (w *wtx) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	if t, ok := w.stmts[st]; ok {
		return t
	}
	if w.stmts == nil {
		w.stmts = map[*sql.Stmt]*sql.Stmt{}
	}
	t := w.tx.StmtContext(ctx, st)
	w.stmts[st] = t
	return t
}

// write runs fn as one all-or-nothing unit and returns its error. Writes
// queued at the same time share a transaction (group commit): each runs
// inside its own savepoint, so one's failure undoes only its own changes,
// and all are durable together at the commit. The audit head advances only
// with a commit.
func (s *Store) write(ctx context.Context, name string, fn func(context.Context, *wtx) error) error {
	o := &op{ctx: ctx, name: name, fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return stint.Errorf(stint.EUNAVAILABLE, "sqlite: store is closed")
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctxErr(name, ctx.Err())
	}
	s.closeMu.RUnlock()
	// Once queued, the write may commit: wait for its outcome whatever ctx does.
	return <-o.done
}

// writer runs queued writes until Close, then finishes those still queued.
func (s *Store) writer() {
	defer close(s.exited)
	batch := make([]*op, 0, maxBatch)
	for {
		var o *op
		select {
		case o = <-s.ops:
		case <-s.quit:
			for {
				select {
				case o := <-s.ops:
					s.run([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.run(batch)
	}
}

// run executes a batch of ops in one transaction and reports each outcome.
func (s *Store) run(batch []*op) {
	errs := make([]error, len(batch))
	defer func() {
		for i, o := range batch {
			o.done <- errs[i]
		}
	}()
	// Statements run under a context that no caller can cancel: interrupting
	// a statement would roll back the whole shared transaction.
	ctx := context.Background()
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		fail(dbErr("begin", err))
		return
	}
	if s.stale {
		if err := s.loadHead(ctx, tx); err != nil {
			tx.Rollback()
			fail(err)
			return
		}
	}
	w := &wtx{tx: tx, seq: s.lastSeq, hash: s.lastHash, lastTime: s.lastTime, now: s.clock.Now()}
	single := len(batch) == 1
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = ctxErr(o.name, err)
			continue
		}
		if single {
			errs[i] = o.fn(ctx, w)
			continue
		}
		seq, hash, last, nafter := w.seq, w.hash, w.lastTime, len(w.after)
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			s.abort(tx, errs, i, dbErr(o.name, err))
			return
		}
		errs[i] = o.fn(ctx, w)
		if errs[i] != nil {
			w.seq, w.hash, w.lastTime, w.after = seq, hash, last, w.after[:nafter]
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
				s.abort(tx, errs, i+1, dbErr(o.name, err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			s.abort(tx, errs, i+1, dbErr(o.name, err))
			return
		}
	}
	if single && errs[0] != nil {
		if err := tx.Rollback(); err != nil {
			s.stale = true
		}
		return
	}
	if err := tx.Commit(); err != nil {
		// The outcome is uncertain: reread the head before the next write.
		s.stale = true
		err = dbErr("commit", err)
		for i := range errs {
			errs[i] = err
		}
		return
	}
	s.lastSeq, s.lastHash, s.lastTime = w.seq, w.hash, w.lastTime
	for _, f := range w.after {
		f()
	}
}

// abort rolls back a batch whose transaction broke: ops before from, which
// had succeeded, and the others all get err.
func (s *Store) abort(tx *sql.Tx, errs []error, from int, err error) {
	tx.Rollback()
	s.stale = true
	for i := range errs {
		if i >= from || errs[i] == nil {
			errs[i] = err
		}
	}
}
