package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/stint-io/stint"
)

// NotifyCursors returns every notification cursor, by target (for
// `stint migrate`).
func (s *Store) NotifyCursors(ctx context.Context) ([]*stint.NotifyCursor, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+notifyCursorCols+` FROM notify_cursors ORDER BY target`)
	if err != nil {
		return nil, dbErr("list notify cursors", err)
	}
	defer rows.Close()
	var out []*stint.NotifyCursor
	for rows.Next() {
		var c stint.NotifyCursor
		var next sql.NullInt64
		var updated int64
		if err := rows.Scan(&c.Target, &c.LastSeq, &c.Attempts, &next, &c.LastError, &updated); err != nil {
			return nil, dbErr("list notify cursors", err)
		}
		if next.Valid {
			c.NextAttempt = time.Unix(0, next.Int64).UTC()
		}
		c.UpdatedAt = time.Unix(0, updated).UTC()
		out = append(out, &c)
	}
	return out, rows.Err()
}
