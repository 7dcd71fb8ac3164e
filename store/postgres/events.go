package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stint-io/stint"
)

// AppendEvent stores ev and appends rec (which may be nil) in one
// transaction, unless an event with the same source and id is stored
// already (dup), in which case nothing is written. Returns EINVALID without
// a source or id.
func (s *Store) AppendEvent(ctx context.Context, ev *stint.Event, rec *stint.AuditRecord) (bool, error) {
	if ev == nil || ev.Source == "" || ev.ID == "" {
		return false, stint.Errorf(stint.EINVALID, "postgres: event without a source or id")
	}
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return false, stint.Errorf(stint.EINVALID, "postgres: event data cannot be encoded: %v", err)
	}
	dup := false
	err = s.write(ctx, "append event", func(ctx context.Context, w *wtx) error {
		dup = false
		if rec != nil {
			if err := w.lockHead(ctx); err != nil {
				return err
			}
		}
		tag, err := w.tx.Exec(ctx, `INSERT INTO events (source, id, type, time, data, received_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, id) DO NOTHING`,
			ev.Source, ev.ID, ev.Type, micro(ev.Time), string(b), micro(ev.ReceivedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			dup = true
			return nil
		}
		if rec != nil {
			return w.appendAudit(ctx, rec)
		}
		return nil
	})
	return dup, err
}

// ListEvents returns the events whose Time is at or after since, oldest
// first.
func (s *Store) ListEvents(ctx context.Context, since time.Time) ([]*stint.Event, error) {
	// Stored times are truncated to microseconds: comparing with since
	// truncated too never misses an event at or after since (it may include
	// one less than a microsecond before).
	rows, err := s.pool.Query(ctx, `SELECT source, id, type, time, data, received_at FROM events
		WHERE time >= $1 ORDER BY time, received_at, source, id`, micro(since))
	if err != nil {
		return nil, dbErr("list events", err)
	}
	defer rows.Close()
	var out []*stint.Event
	for rows.Next() {
		var ev stint.Event
		var t, recv time.Time
		var data []byte
		if err := rows.Scan(&ev.Source, &ev.ID, &ev.Type, &t, &data, &recv); err != nil {
			return nil, dbErr("list events", err)
		}
		ev.Time, ev.ReceivedAt = t.UTC(), recv.UTC()
		// Plain numbers (float64), as CEL sees the data of a freshly parsed
		// event: a window must decide the same either way.
		if err := json.Unmarshal(data, &ev.Data); err != nil {
			return nil, internal("postgres: decode event", err)
		}
		out = append(out, &ev)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list events", err)
	}
	return out, nil
}
