package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/stint-io/stint"
)

// Limits of ListAudit.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

// appendAudit seals rec after the transaction's head and inserts it. A zero
// rec.Time is set to the transaction's time, and a time before the previous
// record's is raised to it, so that times never decrease along the chain
// (which lets ListAudit find Since with one index lookup).
func (s *Store) appendAudit(ctx context.Context, w *wtx, rec *stint.AuditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = w.now
	}
	if rec.Time.Before(w.lastTime) {
		rec.Time = w.lastTime
	}
	if err := rec.Seal(w.seq, w.hash); err != nil {
		return &stint.Error{Code: stint.EINVALID, Message: "audit record cannot be encoded", Err: err}
	}
	args, err := auditArgs(rec)
	if err != nil {
		return internal("sqlite: append audit", err)
	}
	if _, err := w.stmt(ctx, s.stmts.insertAudit).ExecContext(ctx, args...); err != nil {
		// Most likely another process appended (seq taken): reload the head.
		s.stale = true
		return dbErr("append audit", err)
	}
	w.seq, w.hash, w.lastTime = rec.Seq, rec.Hash, rec.Time
	return nil
}

// AppendAudit appends records that are not part of a grant's transition, in
// order, in one transaction; each gets its Seq, PrevHash and Hash. Returns
// EINVALID if a record's details cannot be encoded as JSON.
func (s *Store) AppendAudit(ctx context.Context, recs ...*stint.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.write(ctx, "append audit", func(ctx context.Context, w *wtx) error {
		for _, r := range recs {
			if r == nil {
				continue
			}
			if err := s.appendAudit(ctx, w, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListAudit returns the records matching f, oldest first: at most f.Limit
// (DefaultAuditLimit when 0, capped at MaxAuditLimit).
func (s *Store) ListAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	} else if limit > MaxAuditLimit {
		limit = MaxAuditLimit
	}
	after := f.AfterSeq
	where := []string{"seq > ?"}
	var args []any
	if !f.Since.IsZero() {
		// Times do not decrease along the chain, so the first record at or
		// after Since bounds the scan; the time condition stays for rows
		// written before that rule or by hand. The + keeps the planner on seq.
		var first int64
		err := s.rdb.QueryRowContext(ctx, `SELECT seq FROM audit WHERE time >= ? ORDER BY time, seq LIMIT 1`,
			f.Since.UnixNano()).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			return []*stint.AuditRecord{}, nil
		} else if err != nil {
			return nil, dbErr("list audit", err)
		}
		after = max(after, first-1)
		where = append(where, "+time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	args = append([]any{after}, args...)
	if f.GrantID != "" {
		where, args = append(where, "grant_id = ?"), append(args, f.GrantID)
	}
	q := `SELECT ` + auditCols + ` FROM audit WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list audit", err)
	}
	defer rows.Close()
	recs := make([]*stint.AuditRecord, 0, min(limit, 256))
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, dbErr("list audit", err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list audit", err)
	}
	return recs, nil
}
