package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// NextDue returns the earliest DueAt of any grant, claimed or not; ok is
// false when no grant has anything due. One index lookup.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due time.Time
	err := s.pool.QueryRow(ctx, `SELECT due_at FROM grants WHERE due_at IS NOT NULL ORDER BY due_at LIMIT 1`).Scan(&due)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, dbErr("next due", err)
	}
	return due.UTC(), true, nil
}

// claimDueSQL claims due, unclaimed grants, earliest first. SKIP LOCKED
// passes over rows another transaction holds (another replica claiming or
// updating them); a row claimed and committed meanwhile is rechecked against
// the WHERE clause when locked, so it is not claimed twice. $1 is now
// truncated to microseconds (due_at <= now), $2 now rounded up (a claim
// lapses strictly before now), $3 the limit, $4 the end of the claim.
var claimDueSQL = `WITH due AS (
		SELECT id FROM grants
		WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $2)
		ORDER BY due_at LIMIT $3
		FOR UPDATE SKIP LOCKED)
	UPDATE grants SET claimed_until = $4 FROM due WHERE grants.id = due.id
	RETURNING ` + claimCols

// claimCols are grantCols qualified by the table, for the UPDATE ... FROM.
var claimCols = prefixCols("grants.", grantCols)

// ClaimDue claims up to limit grants whose DueAt is at or before now and that
// are unclaimed or whose claim lapsed before now, earliest first, until
// `until` (rounded up to a microsecond). A claim does not change the grant's
// version; the next update of the grant clears it. Two stores on the same
// database never claim the same grant at once. Returns EINVALID if limit is
// not positive.
func (s *Store) ClaimDue(ctx context.Context, now, until time.Time, limit int) ([]*stint.Grant, error) {
	if limit <= 0 {
		return nil, stint.Errorf(stint.EINVALID, "postgres: claim limit must be positive")
	}
	var gs []*stint.Grant
	err := s.write(ctx, "claim due", func(ctx context.Context, w *wtx) error {
		gs = gs[:0]
		rows, err := w.tx.Query(ctx, claimDueSQL,
			now.UTC().Truncate(time.Microsecond), ceilMicro(now), limit, ceilMicro(until))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGrant(rows)
			if err != nil {
				return err
			}
			gs = append(gs, g)
		}
		return rows.Err()
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

// CountActive returns the number of active grants per access string.
func (s *Store) CountActive(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT access, COUNT(*) FROM grants WHERE state = 'active' GROUP BY access`)
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
