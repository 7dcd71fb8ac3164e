package notify

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// Event is one notification: a named event about an audit record. It is
// the body of a FormatJSON message.
type Event struct {
	Name string    `json:"event"` // a notification event or an audit type
	Time time.Time `json:"time"`  // the record's time
	// Grant is the grant the record is about, as it is when the message is
	// sent; nil when the record is about no grant (or it is gone).
	Grant  *stint.Grant       `json:"grant"`
	Record *stint.AuditRecord `json:"record"`
	// Recipients are who the event is for: the approvers (approval.requested)
	// or the requester (approval.decided, grant.expiring).
	Recipients []string `json:"recipients,omitempty"`
	// Decision is "approved" or "rejected" for approval.decided.
	Decision string `json:"decision,omitempty"`
	// ApproveCommand is the command that approves the request
	// (approval.requested) or records the review of a break-glass grant.
	ApproveCommand string `json:"approve_command,omitempty"`
	// URL links to the grant in the web UI: <server url>/ui/grants/ID.
	URL string `json:"url,omitempty"`
}

// candidates returns the event names rec may give rise to, before the
// target's subscription is applied. grant.break_glass on an activation is
// confirmed against the grant later (see breakGlass).
func candidates(rec *stint.AuditRecord) []string {
	var names []string
	switch rec.Type {
	case stint.AuditGrantRequested:
		if detailString(rec, "decision") == string(stint.OutcomeApproval) {
			names = append(names, stint.NotifyApprovalRequested)
		}
	case stint.AuditGrantApproved:
		// One record per approval: the request is decided only with the last
		// one needed.
		n, okN := detailInt(rec, "approvals")
		req, okR := detailInt(rec, "required")
		if !okN || !okR || n >= req {
			names = append(names, stint.NotifyApprovalDecided)
		}
	case stint.AuditGrantRejected:
		names = append(names, stint.NotifyApprovalDecided)
	case stint.AuditGrantActivated:
		names = append(names, stint.NotifyGrantBreakGlass)
	case stint.NotifyGrantRevokeFailed, stint.NotifyGrantExpiring:
		names = append(names, rec.Type)
	}
	for _, n := range names {
		if n == rec.Type {
			return names
		}
	}
	// The record itself, for targets that name its type.
	return append(names, rec.Type)
}

// breakGlass reports whether an activation record is that of a break-glass
// grant: the broker says so in the details; older records are checked
// against the grant.
func breakGlass(rec *stint.AuditRecord, g *stint.Grant) bool {
	if b, ok := rec.Details["break_glass"].(bool); ok {
		return b
	}
	return g != nil && g.BreakGlass
}

// newEvent builds the event name about rec and g (which may be nil).
func newEvent(name string, rec *stint.AuditRecord, g *stint.Grant, serverURL string) *Event {
	ev := &Event{Name: name, Time: rec.Time.UTC(), Grant: g, Record: rec}
	id := rec.GrantID
	if id == "" && g != nil {
		id = g.ID
	}
	if id != "" && serverURL != "" {
		ev.URL = strings.TrimRight(serverURL, "/") + "/ui/grants/" + id
	}
	switch name {
	case stint.NotifyApprovalRequested:
		ev.ApproveCommand = "stint approve " + id
		if g != nil {
			ev.Recipients = append([]string(nil), g.Approvers...)
		}
	case stint.NotifyGrantBreakGlass:
		ev.ApproveCommand = "stint approve " + id
	case stint.NotifyApprovalDecided:
		ev.Decision = "approved"
		if rec.Type == stint.AuditGrantRejected {
			ev.Decision = "rejected"
		}
		fallthrough
	case stint.NotifyGrantExpiring:
		if g != nil {
			ev.Recipients = []string{g.Principal}
		}
	}
	return ev
}

func detailString(rec *stint.AuditRecord, key string) string {
	s, _ := rec.Details[key].(string)
	return s
}

// detailInt reads a number from details, which hold json.Number when read
// back from a store and Go numbers when just written.
func detailInt(rec *stint.AuditRecord, key string) (int64, bool) {
	switch v := rec.Details[key].(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}
