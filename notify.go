package stint

import (
	"context"
	"time"
)

// Notification events: what a `notify:` target subscribes to with `on`,
// besides audit record types, which a target may also name to receive those
// records as they are. Notifications are derived from the audit trail by
// internal/notify.
const (
	// NotifyApprovalRequested: a request waits for approval (to its approvers).
	NotifyApprovalRequested = "approval.requested"
	// NotifyApprovalDecided: a request was fully approved or rejected (to its requester).
	NotifyApprovalDecided = "approval.decided"
	// NotifyGrantExpiring: an active grant expires soon (to its requester). It
	// is also the audit type the expiry engine writes a few minutes before.
	NotifyGrantExpiring = "grant.expiring"
	// NotifyGrantBreakGlass: a break-glass grant became active.
	NotifyGrantBreakGlass = "grant.break_glass"
	// NotifyGrantRevokeFailed: a revocation attempt failed (AuditGrantRevokeFailed).
	NotifyGrantRevokeFailed = "grant.revoke_failed"
)

// NotifyEvents lists the notification events, sent to a target without `on`.
var NotifyEvents = []string{
	NotifyApprovalRequested, NotifyApprovalDecided, NotifyGrantExpiring,
	NotifyGrantBreakGlass, NotifyGrantRevokeFailed,
}

// NotifyCursor is how far one notification target has got along the audit
// trail: every record up to LastSeq is delivered, skipped or not wanted.
// Attempts, NextAttempt and LastError describe the failed deliveries of the
// record after LastSeq.
type NotifyCursor struct {
	Target      string // a stable key of the target, never its URL
	LastSeq     int64
	Attempts    int
	NextAttempt time.Time // zero when no retry is scheduled
	LastError   string    // never holds the URL or a secret
	UpdatedAt   time.Time // set by the store
}

// NotifyCursorStore keeps the notification cursors durably. Stores that
// hold the audit trail implement it (store/sqlite, store/postgres).
type NotifyCursorStore interface {
	// NotifyCursor returns the cursor of target. A target seen for the first
	// time gets a cursor at the current end of the audit trail, created in
	// the same transaction, so that it does not replay history. Returns
	// EINVALID for an empty target.
	NotifyCursor(ctx context.Context, target string) (*NotifyCursor, error)

	// SetNotifyCursor writes c. A cursor never moves back: a c.LastSeq below
	// the stored one leaves the cursor unchanged (another replica got
	// further). Returns EINVALID for an empty target.
	SetNotifyCursor(ctx context.Context, c *NotifyCursor) error
}
