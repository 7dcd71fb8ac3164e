package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stint-io/stint"
)

var _ stint.NotifyCursorStore = (*Store)(nil)

const notifyCursorCols = `target, last_seq, attempts, next_attempt, last_error, updated_at`

// NotifyCursor returns the cursor of target, creating it at the current end
// of the audit trail when the target is new. Returns EINVALID for an empty
// target.
func (s *Store) NotifyCursor(ctx context.Context, target string) (*stint.NotifyCursor, error) {
	if target == "" {
		return nil, stint.Errorf(stint.EINVALID, "notify cursor: target required")
	}
	c, err := s.readNotifyCursor(ctx, s.rdb, target)
	if err != nil || c != nil {
		return c, err
	}
	err = s.write(ctx, "create notify cursor", func(ctx context.Context, w *wtx) error {
		// The head is read inside the write transaction, so no record
		// committed before the cursor exists is taken for history. (WHERE true
		// resolves SQLite's parsing ambiguity of ON CONFLICT after a SELECT.)
		_, err := w.tx.ExecContext(ctx, `INSERT INTO notify_cursors (target, last_seq, updated_at)
			SELECT ?, COALESCE(MAX(seq), 0), ? FROM audit WHERE true
			ON CONFLICT (target) DO NOTHING`, target, w.now.UnixNano())
		if err != nil {
			return dbErr("create notify cursor", err)
		}
		c, err = s.readNotifyCursor(ctx, w.tx, target)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// SetNotifyCursor writes c; a LastSeq below the stored one changes nothing.
// Returns EINVALID for an empty target.
func (s *Store) SetNotifyCursor(ctx context.Context, c *stint.NotifyCursor) error {
	if c == nil || c.Target == "" {
		return stint.Errorf(stint.EINVALID, "notify cursor: target required")
	}
	return s.write(ctx, "set notify cursor", func(ctx context.Context, w *wtx) error {
		_, err := w.tx.ExecContext(ctx, `INSERT INTO notify_cursors (`+notifyCursorCols+`)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (target) DO UPDATE SET
				last_seq = excluded.last_seq, attempts = excluded.attempts,
				next_attempt = excluded.next_attempt, last_error = excluded.last_error,
				updated_at = excluded.updated_at
			WHERE excluded.last_seq >= notify_cursors.last_seq`,
			c.Target, c.LastSeq, c.Attempts, nanos(c.NextAttempt), c.LastError, w.now.UnixNano())
		if err != nil {
			return dbErr("set notify cursor", err)
		}
		c.UpdatedAt = w.now.UTC()
		return nil
	})
}

// readNotifyCursor returns the cursor of target, or nil if there is none.
func (s *Store) readNotifyCursor(ctx context.Context, q querier, target string) (*stint.NotifyCursor, error) {
	var (
		c       stint.NotifyCursor
		next    sql.NullInt64
		updated int64
	)
	err := q.QueryRowContext(ctx, `SELECT `+notifyCursorCols+` FROM notify_cursors WHERE target = ?`, target).
		Scan(&c.Target, &c.LastSeq, &c.Attempts, &next, &c.LastError, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, dbErr("read notify cursor", err)
	}
	if next.Valid {
		c.NextAttempt = time.Unix(0, next.Int64).UTC()
	}
	c.UpdatedAt = time.Unix(0, updated).UTC()
	return &c, nil
}
