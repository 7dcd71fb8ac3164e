package stint

import (
	"context"
	"time"
)

// Event is one webhook event received from an event source (a PagerDuty
// incident, a GitHub deployment, ...). Event windows open and close on them.
type Event struct {
	Source     string         `json:"source"`
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Time       time.Time      `json:"time"`
	Data       map[string]any `json:"data,omitempty"`
	ReceivedAt time.Time      `json:"received_at"`
}

// EventStore keeps received events. The SQLite and PostgreSQL stores
// implement it.
type EventStore interface {
	// AppendEvent stores ev and appends rec, in one transaction. dup reports
	// that an event with the same source and id was stored before (a
	// redelivered webhook), in which case nothing is written.
	AppendEvent(ctx context.Context, ev *Event, rec *AuditRecord) (dup bool, err error)
	// ListEvents returns the events whose Time is at or after since, oldest
	// first.
	ListEvents(ctx context.Context, since time.Time) ([]*Event, error)
}
