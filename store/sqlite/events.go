package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stint-io/stint"
)

var _ stint.EventStore = (*Store)(nil)

// AppendEvent stores ev and appends rec in one transaction, unless an event
// with the same source and id is stored already (dup). Returns EINVALID
// without a source or id.
func (s *Store) AppendEvent(ctx context.Context, ev *stint.Event, rec *stint.AuditRecord) (bool, error) {
	if ev.Source == "" || ev.ID == "" {
		return false, stint.Errorf(stint.EINVALID, "sqlite: event without a source or id")
	}
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return false, internal("sqlite: encode event", err)
	}
	dup := false
	err = s.write(ctx, "append event", func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `INSERT INTO events (source, id, type, time, data, received_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`,
			ev.Source, ev.ID, ev.Type, ev.Time.UTC().UnixNano(), string(b), ev.ReceivedAt.UTC().UnixNano())
		if err != nil {
			return internal("sqlite: insert event", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			dup = true
			return nil
		}
		if rec != nil {
			return s.appendAudit(ctx, w, rec)
		}
		return nil
	})
	return dup, err
}

// ListEvents returns the events at or after since, oldest first.
func (s *Store) ListEvents(ctx context.Context, since time.Time) ([]*stint.Event, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT source, id, type, time, data, received_at FROM events
		WHERE time >= ? ORDER BY time, received_at, source, id`, since.UTC().UnixNano())
	if err != nil {
		return nil, internal("sqlite: list events", err)
	}
	defer rows.Close()
	var out []*stint.Event
	for rows.Next() {
		var ev stint.Event
		var t, recv int64
		var data string
		if err := rows.Scan(&ev.Source, &ev.ID, &ev.Type, &t, &data, &recv); err != nil {
			return nil, internal("sqlite: scan event", err)
		}
		ev.Time, ev.ReceivedAt = time.Unix(0, t).UTC(), time.Unix(0, recv).UTC()
		// Plain numbers (float64), as CEL sees the data of a freshly parsed
		// event: a window must decide the same either way.
		if err := json.Unmarshal([]byte(data), &ev.Data); err != nil {
			return nil, internal("sqlite: decode event", err)
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}
