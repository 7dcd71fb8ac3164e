// Package notify sends notifications about grants to webhooks (the
// `notify:` block of the configuration): approval requests to approvers,
// decisions and coming expiries to requesters, break-glass grants and failed
// revocations to whoever watches them.
//
// Notifications are derived from the audit trail, which the broker writes in
// the same transaction as each grant transition, so a notification is never
// lost when the process stops between a transition and its delivery. Each
// target has a durable cursor in the store (stint.NotifyCursorStore): the
// Dispatcher tails the trail after it, delivers in order, and advances the
// cursor once the receiver has answered 2xx. A failed delivery is retried
// with capped exponential backoff; after MaxAttempts, or at once for a
// permanent refusal (a 4xx other than 408 and 429), the record is given up,
// logged and counted, so that one bad message cannot block a target. Delivery
// is at least once: a receiver may see a message twice after a crash between
// its answer and the cursor's write, and should deduplicate on the record's
// seq.
//
// Formats: FormatJSON posts the Event as JSON, signed with the target's
// secret (see Sign and VerifySignature); FormatSlack posts a Slack
// incoming-webhook message with blocks.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/stint-io/stint"
)

// Formats of a target.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// Store is what the dispatcher reads and writes: the audit trail, the grants
// it describes and the cursors. *sqlite.Store implements it.
type Store interface {
	GetGrant(ctx context.Context, id string) (*stint.Grant, error)
	ListAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error)
	stint.NotifyCursorStore
}

// Target is one webhook to notify. It holds secrets (the URL of a Slack
// webhook is one); it prints and logs as its Key only.
type Target struct {
	URL    string
	Format string // FormatJSON or FormatSlack
	Secret string // HMAC key of FormatJSON signatures; empty: unsigned
	// On lists the events sent: notification events (stint.NotifyEvents)
	// and audit record types, sent as they are. Empty: stint.NotifyEvents.
	On []string
}

// Key returns the stable name of t in the store, metrics and logs: the first
// 12 hex digits of the SHA-256 of its format and URL. It reveals neither.
func (t Target) Key() string {
	h := sha256.Sum256([]byte(t.Format + "\n" + t.URL))
	return hex.EncodeToString(h[:6])
}

// String returns the target's key, so that printing a Target shows no secret.
func (t Target) String() string { return "notify target " + t.Key() }

// GoString is String, for %#v.
func (t Target) GoString() string { return t.String() }

// LogValue logs the target as its key.
func (t Target) LogValue() slog.Value { return slog.StringValue(t.Key()) }

// wants reports whether t subscribes to event.
func (t *Target) wants(event string) bool {
	on := t.On
	if len(on) == 0 {
		on = stint.NotifyEvents
	}
	for _, e := range on {
		if e == event {
			return true
		}
	}
	return false
}
