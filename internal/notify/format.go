package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// encode returns the body of ev in format.
func encode(format string, ev *Event) ([]byte, error) {
	var v any
	switch format {
	case FormatJSON:
		v = ev
	case FormatSlack:
		v = slackMessage(ev)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Slack limits: header text 150 characters, a section's field 2000 and at
// most 10 fields; context text 3000.
const (
	slackHeaderMax = 150
	slackFieldMax  = 300 // ours: keep messages readable
	slackFields    = 10
)

type slackMsg struct {
	Text   string       `json:"text"` // fallback for notifications
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// slackMessage renders ev as a Slack incoming-webhook message: a header, a
// section of fields, and a context line with the command and the link.
func slackMessage(ev *Event) slackMsg {
	rec, g := ev.Record, ev.Grant
	access, requester, reason, ticket := rec.Access, rec.Actor, "", ""
	if g != nil {
		access, requester, reason, ticket = g.Access, g.Principal, g.Reason, g.Ticket
	}
	if access == "" {
		access = "-"
	}
	var title string
	switch ev.Name {
	case stint.NotifyApprovalRequested:
		title = ":raised_hand: Approval requested: " + access
	case stint.NotifyApprovalDecided:
		title = ":white_check_mark: Request approved: " + access
		if ev.Decision == "rejected" {
			title = ":no_entry: Request rejected: " + access
		}
	case stint.NotifyGrantBreakGlass:
		title = ":rotating_light: BREAK-GLASS access granted: " + access
	case stint.NotifyGrantRevokeFailed:
		title = ":warning: Revocation failed: " + access
	case stint.NotifyGrantExpiring:
		title = ":hourglass: Access expiring soon: " + access
	default:
		title = "Stint " + ev.Name + ": " + access
	}

	var fields []slackText
	field := func(name, value string) {
		if value != "" && len(fields) < slackFields {
			fields = append(fields, slackText{Type: "mrkdwn", Text: "*" + name + "*\n" + clip(escape(value), slackFieldMax)})
		}
	}
	field("Requester", requester)
	field("Access", access)
	field("Reason", reason)
	field("Ticket", ticket)
	if g != nil {
		if g.TTL > 0 {
			field("TTL", g.TTL.String())
		}
		if ev.Name == stint.NotifyApprovalRequested || ev.Name == stint.NotifyApprovalDecided {
			field("Approvers", approvers(g))
		}
		if g.ExpiresAt != nil && ev.Name != stint.NotifyApprovalRequested {
			field("Expires", g.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	switch ev.Name {
	case stint.NotifyApprovalDecided:
		field("Decided by", rec.Actor)
		field("Comment", rec.Reason)
	case stint.NotifyGrantRevokeFailed:
		field("Error", detailString(rec, "error"))
		if n, ok := detailInt(rec, "attempt"); ok {
			field("Attempt", fmt.Sprint(n))
		}
	}
	if len(fields) == 0 {
		field("Actor", rec.Actor)
	}

	msg := slackMsg{
		Text: clip(fallback(ev, access, requester, reason), 500),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: clip(title, slackHeaderMax), Emoji: true}},
			{Type: "section", Fields: fields},
		},
	}
	var ctx []string
	switch ev.Name {
	case stint.NotifyApprovalRequested:
		ctx = append(ctx, "Approve with `"+escape(ev.ApproveCommand)+"`")
	case stint.NotifyGrantBreakGlass:
		ctx = append(ctx, "Flagged for review: once it ends, record the review with `"+escape(ev.ApproveCommand)+"`")
	}
	if ev.URL != "" {
		ctx = append(ctx, "<"+escape(ev.URL)+"|Open in Stint>")
	}
	if len(ctx) > 0 {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: strings.Join(ctx, " · ")}}})
	}
	return msg
}

// fallback is the plain text Slack shows in notifications.
func fallback(ev *Event, access, requester, reason string) string {
	var s string
	switch ev.Name {
	case stint.NotifyApprovalRequested:
		s = fmt.Sprintf("Approval requested: %s wants %s", requester, access)
		if ev.ApproveCommand != "" {
			s += " (" + ev.ApproveCommand + ")"
		}
	case stint.NotifyApprovalDecided:
		s = fmt.Sprintf("Request for %s by %s %s by %s", access, requester, ev.Decision, ev.Record.Actor)
	case stint.NotifyGrantBreakGlass:
		s = fmt.Sprintf("BREAK-GLASS: %s was granted %s", requester, access)
	case stint.NotifyGrantRevokeFailed:
		s = fmt.Sprintf("Revocation of %s for %s failed", access, requester)
	case stint.NotifyGrantExpiring:
		s = fmt.Sprintf("Access to %s for %s expires soon", access, requester)
	default:
		s = fmt.Sprintf("Stint %s: %s", ev.Name, access)
	}
	if reason != "" && ev.Name != stint.NotifyApprovalDecided {
		s += ": " + reason
	}
	return escape(s)
}

// approvers describes who may approve g and how many approvals it needs.
func approvers(g *stint.Grant) string {
	s := strings.Join(g.Approvers, ", ")
	if s != "" && g.ApprovalsRequired > 1 {
		s += fmt.Sprintf(" (%d needed)", g.ApprovalsRequired)
	}
	return s
}

// escape escapes Slack's control characters in text from users, so a
// reason cannot mention @channel or forge links, and folds line breaks so
// that it cannot pose as further fields of the message (the broker refuses
// control characters in reasons, tickets and comments in the first place).
func escape(s string) string {
	return slackEscaper.Replace(s)
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\n", " ", "\r", " ")

// clip bounds s to n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - 3
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return s[:i] + "..."
}
