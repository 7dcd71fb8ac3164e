package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// Limits of ListAudit.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

const insertAuditSQL = `INSERT INTO audit (seq, time, time_ns, type, actor, grant_id, access, reason,
	details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

// lockHead locks the head of the audit chain for the rest of the
// transaction and loads it. Every transaction that appends records calls it
// before touching anything else, so that transactions take their locks in
// one order and never deadlock on it. A second call does nothing.
func (w *wtx) lockHead(ctx context.Context) error {
	if w.locked {
		return nil
	}
	err := w.tx.QueryRow(ctx, `SELECT seq, hash, time_ns FROM audit_head WHERE id FOR UPDATE`).
		Scan(&w.seq, &w.hash, &w.lastNs)
	if err != nil {
		return err
	}
	w.locked = true
	return nil
}

// appendAudit seals rec after the transaction's head and inserts it. A zero
// rec.Time is set to the transaction's time, and a time before the previous
// record's is raised to it, so that times never decrease along the chain.
func (w *wtx) appendAudit(ctx context.Context, rec *stint.AuditRecord) error {
	if err := w.lockHead(ctx); err != nil {
		return err
	}
	if rec.Time.IsZero() {
		rec.Time = w.now
	}
	if w.seq > 0 && rec.Time.UnixNano() < w.lastNs {
		rec.Time = time.Unix(0, w.lastNs)
	}
	if err := rec.Seal(w.seq, w.hash); err != nil {
		return &stint.Error{Code: stint.EINVALID, Message: "audit record cannot be encoded", Err: err}
	}
	args, err := auditArgs(rec)
	if err != nil {
		return internal("postgres: append audit", err)
	}
	if _, err := w.tx.Exec(ctx, insertAuditSQL, args...); err != nil {
		return err
	}
	w.seq, w.hash, w.lastNs, w.dirty = rec.Seq, rec.Hash, rec.Time.UnixNano(), true
	return nil
}

// flushHead writes the new head of the chain, if records were appended.
func (w *wtx) flushHead(ctx context.Context) error {
	if !w.dirty {
		return nil
	}
	_, err := w.tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2, time_ns = $3 WHERE id`, w.seq, w.hash, w.lastNs)
	return err
}

// AppendAudit appends records that are not part of a grant's transition, in
// order, in one transaction; each gets its Seq, PrevHash and Hash. Returns
// EINVALID if a record's details cannot be encoded as JSON (and then
// appends none).
func (s *Store) AppendAudit(ctx context.Context, recs ...*stint.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.write(ctx, "append audit", func(ctx context.Context, w *wtx) error {
		for _, r := range recs {
			if r == nil {
				continue
			}
			if err := w.appendAudit(ctx, r); err != nil {
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
	var p params
	where := []string{"seq > " + p.add(f.AfterSeq)}
	if !f.Since.IsZero() {
		where = append(where, "time_ns >= "+p.add(f.Since.UnixNano()))
	}
	if f.GrantID != "" {
		where = append(where, "grant_id = "+p.add(f.GrantID))
	}
	q := `SELECT ` + auditCols + ` FROM audit WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY seq LIMIT ` + p.add(limit)
	rows, err := s.pool.Query(ctx, q, p...)
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
