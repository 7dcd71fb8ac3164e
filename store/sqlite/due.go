package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"

	"github.com/stint-io/stint"
)

// NextDue returns the earliest DueAt of any grant, claimed or not; ok is
// false when no grant has anything due. One index lookup.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx,
		`SELECT due_at FROM grants WHERE due_at IS NOT NULL ORDER BY due_at LIMIT 1`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, dbErr("next due", err)
	}
	return time.Unix(0, n).UTC(), true, nil
}

// ClaimDue claims up to limit grants whose DueAt is at or before now and that
// are unclaimed or whose claim lapsed before now, earliest first, until
// `until`. A claim does not change the grant's version; the next update of
// the grant clears it. Returns EINVALID if limit is not positive.
func (s *Store) ClaimDue(ctx context.Context, now, until time.Time, limit int) ([]*stint.Grant, error) {
	if limit <= 0 {
		return nil, stint.Errorf(stint.EINVALID, "sqlite: claim limit must be positive")
	}
	var gs []*stint.Grant
	err := s.write(ctx, "claim due", func(ctx context.Context, w *wtx) error {
		gs = gs[:0]
		rows, err := w.tx.QueryContext(ctx, `UPDATE grants SET claimed_until = ?1
			WHERE rowid IN (SELECT rowid FROM grants
				WHERE due_at <= ?2 AND (claimed_until IS NULL OR claimed_until < ?2)
				ORDER BY due_at LIMIT ?3)
			RETURNING `+grantCols,
			until.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return dbErr("claim due", err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGrant(rows)
			if err != nil {
				return dbErr("claim due", err)
			}
			gs = append(gs, g)
		}
		if err := rows.Err(); err != nil {
			return dbErr("claim due", err)
		}
		return rows.Close()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no defined order.
	sort.Slice(gs, func(i, j int) bool {
		if c := gs[i].DueAt.Compare(*gs[j].DueAt); c != 0 {
			return c < 0
		}
		return gs[i].ID < gs[j].ID
	})
	return gs, nil
}

// CountActive returns the number of active grants per access string, from a
// covering index of active grants.
func (s *Store) CountActive(ctx context.Context) (map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT access, COUNT(*) FROM grants INDEXED BY grants_active_access WHERE state = 'active' GROUP BY access`)
	if err != nil {
		return nil, dbErr("count active", err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		if err := rows.Scan(&a, &n); err != nil {
			return nil, dbErr("count active", err)
		}
		m[a] = n
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("count active", err)
	}
	return m, nil
}
