package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

const notifyCursorCols = `target, last_seq, attempts, next_attempt, last_error, updated_at`

// NotifyCursor returns the cursor of target, creating it at the current end
// of the audit trail when the target is new. Returns EINVALID for an empty
// target.
func (s *Store) NotifyCursor(ctx context.Context, target string) (*stint.NotifyCursor, error) {
	if target == "" {
		return nil, stint.Errorf(stint.EINVALID, "notify cursor: target required")
	}
	c, err := readNotifyCursor(ctx, s.pool, target)
	if err != nil || c != nil {
		return c, err
	}
	err = s.write(ctx, "create notify cursor", func(ctx context.Context, w *wtx) error {
		// The head is the last committed record: records commit in seq
		// order (they are appended under the head's lock), so none committed
		// before the cursor exists is taken for new, and none after is lost.
		_, err := w.tx.Exec(ctx, `INSERT INTO notify_cursors (target, last_seq, updated_at)
			SELECT $1, seq, $2 FROM audit_head WHERE id
			ON CONFLICT (target) DO NOTHING`, target, ts(w.now))
		if err != nil {
			return err
		}
		c, err = readNotifyCursor(ctx, w.tx, target)
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
	var now time.Time
	err := s.write(ctx, "set notify cursor", func(ctx context.Context, w *wtx) error {
		now = w.now.Truncate(time.Microsecond)
		_, err := w.tx.Exec(ctx, `INSERT INTO notify_cursors (`+notifyCursorCols+`)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (target) DO UPDATE SET
				last_seq = excluded.last_seq, attempts = excluded.attempts,
				next_attempt = excluded.next_attempt, last_error = excluded.last_error,
				updated_at = excluded.updated_at
			WHERE excluded.last_seq >= notify_cursors.last_seq`,
			c.Target, c.LastSeq, c.Attempts, ts(c.NextAttempt), c.LastError, now)
		return err
	})
	if err != nil {
		return err
	}
	c.UpdatedAt = now
	return nil
}

// queryRower is what the pool and a transaction have in common.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readNotifyCursor returns the cursor of target, or nil if there is none.
func readNotifyCursor(ctx context.Context, q queryRower, target string) (*stint.NotifyCursor, error) {
	var (
		c       stint.NotifyCursor
		next    *time.Time
		updated time.Time
	)
	err := q.QueryRow(ctx, `SELECT `+notifyCursorCols+` FROM notify_cursors WHERE target = $1`, target).
		Scan(&c.Target, &c.LastSeq, &c.Attempts, &next, &c.LastError, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, dbErr("read notify cursor", err)
	}
	if next != nil {
		c.NextAttempt = next.UTC()
	}
	c.UpdatedAt = updated.UTC()
	return &c, nil
}

// NotifyCursors returns every notification cursor, by target (for
// `stint migrate`).
func (s *Store) NotifyCursors(ctx context.Context) ([]*stint.NotifyCursor, error) {
	rows, err := s.pool.Query(ctx, `SELECT target FROM notify_cursors ORDER BY target`)
	if err != nil {
		return nil, dbErr("list notify cursors", err)
	}
	targets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr("list notify cursors", err)
	}
	out := make([]*stint.NotifyCursor, 0, len(targets))
	for _, t := range targets {
		c, err := readNotifyCursor(ctx, s.pool, t)
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}
