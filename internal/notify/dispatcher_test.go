package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/notify"
)

// drain returns the messages r got so far.
func drain(r *receiver) []message {
	var out []message
	for {
		select {
		case m := <-r.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

func TestDispatcher_Events(t *testing.T) {
	for _, tc := range []struct {
		name  string
		on    []string
		write func(e *env) *stint.Grant
		want  []string // event names, in order
		check func(t *testing.T, g *stint.Grant, ms []message)
	}{
		{
			name:  "ApprovalRequested",
			write: func(e *env) *stint.Grant { return e.requestPending("svc/ci", 1) },
			want:  []string{stint.NotifyApprovalRequested},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				j := ms[0].JSON
				if j["approve_command"] != "stint approve "+g.ID {
					t.Errorf("approve_command = %v", j["approve_command"])
				}
				if j["url"] != testServerURL+"/ui/grants/"+g.ID {
					t.Errorf("url = %v", j["url"])
				}
				if fmt.Sprint(j["recipients"]) != "[group:db-owners carol@example.com]" {
					t.Errorf("recipients = %v", j["recipients"])
				}
				grant := j["grant"].(map[string]any)
				if grant["id"] != g.ID || grant["reason"] != g.Reason || grant["ticket"] != "OPS-42" || grant["principal"] != "svc/ci" {
					t.Errorf("grant = %v", grant)
				}
				rec := j["record"].(map[string]any)
				if rec["type"] != stint.AuditGrantRequested || rec["grant_id"] != g.ID {
					t.Errorf("record = %v", rec)
				}
				if j["time"] != t0.Format(time.RFC3339) {
					t.Errorf("time = %v", j["time"])
				}
			},
		},
		{
			name: "ApprovalDecidedOnlyWhenFinal",
			write: func(e *env) *stint.Grant {
				g := e.requestPending("svc/ci", 2)
				e.approve(g, "alice@example.com")
				e.approve(g, "bob@example.com")
				return g
			},
			want: []string{stint.NotifyApprovalRequested, stint.NotifyApprovalDecided},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				j := ms[1].JSON
				if j["decision"] != "approved" || fmt.Sprint(j["recipients"]) != "[svc/ci]" {
					t.Errorf("decision = %v, recipients = %v", j["decision"], j["recipients"])
				}
				if rec := j["record"].(map[string]any); rec["actor"] != "bob@example.com" {
					t.Errorf("decided by %v, want the last approver", rec["actor"])
				}
			},
		},
		{
			name: "Rejected",
			on:   []string{stint.NotifyApprovalDecided},
			write: func(e *env) *stint.Grant {
				g := e.requestPending("svc/ci", 1)
				e.reject(g, "alice@example.com", "not during the freeze")
				return g
			},
			want: []string{stint.NotifyApprovalDecided},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				if ms[0].JSON["decision"] != "rejected" {
					t.Errorf("decision = %v", ms[0].JSON["decision"])
				}
			},
		},
		{
			name:  "BreakGlass",
			write: func(e *env) *stint.Grant { return e.grantActive("sre@example.com", true, true) },
			want:  []string{stint.NotifyGrantBreakGlass},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				if ms[0].JSON["approve_command"] != "stint approve "+g.ID {
					t.Errorf("approve_command (review) = %v", ms[0].JSON["approve_command"])
				}
			},
		},
		{
			name:  "BreakGlassFlagOnlyOnGrant",
			write: func(e *env) *stint.Grant { return e.grantActive("sre@example.com", true, false) },
			want:  []string{stint.NotifyGrantBreakGlass},
		},
		{
			name:  "RoutineActivationIsQuiet",
			write: func(e *env) *stint.Grant { return e.grantActive("svc/app", false, false) },
		},
		{
			name: "RevokeFailed",
			write: func(e *env) *stint.Grant {
				g := e.grantActive("svc/app", false, false)
				e.revokeFailed(g)
				return g
			},
			want: []string{stint.NotifyGrantRevokeFailed},
		},
		{
			name: "Expiring",
			write: func(e *env) *stint.Grant {
				g := e.grantActive("svc/app", false, false)
				e.expiring(g)
				return g
			},
			want: []string{stint.NotifyGrantExpiring},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				if fmt.Sprint(ms[0].JSON["recipients"]) != "[svc/app]" {
					t.Errorf("recipients = %v", ms[0].JSON["recipients"])
				}
			},
		},
		{
			name: "AuditTypeByName",
			on:   []string{stint.AuditGrantExpired},
			write: func(e *env) *stint.Grant {
				g := e.grantActive("svc/app", false, false)
				e.expire(g)
				return g
			},
			want: []string{stint.AuditGrantExpired},
		},
		{
			name:  "DerivedAndRawFromOneRecord",
			on:    []string{stint.NotifyApprovalRequested, stint.AuditGrantRequested},
			write: func(e *env) *stint.Grant { return e.requestPending("svc/ci", 1) },
			want:  []string{stint.NotifyApprovalRequested, stint.AuditGrantRequested},
		},
		{
			name:  "RecordWithoutGrant",
			on:    []string{stint.AuditConfigLoaded},
			write: func(e *env) *stint.Grant { e.configLoaded(); return nil },
			want:  []string{stint.AuditConfigLoaded},
			check: func(t *testing.T, g *stint.Grant, ms []message) {
				if ms[0].JSON["grant"] != nil || ms[0].JSON["url"] != nil {
					t.Errorf("grant = %v, url = %v; want none", ms[0].JSON["grant"], ms[0].JSON["url"])
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := newReceiver(t, e.clock, testSecret)
			target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret, On: tc.on}
			d, _ := e.start(target)
			g := tc.write(e)
			d.Notify()
			e.waitCursor(target.Key(), e.head())
			ms := drain(r)
			var got []string
			for _, m := range ms {
				got = append(got, m.Event)
				if m.JSON["event"] != m.Event {
					t.Errorf("body event %v, header %s", m.JSON["event"], m.Event)
				}
				if m.VerifyErr != nil {
					t.Errorf("signature of %s: %v", m.Event, m.VerifyErr)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("events = %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, g, ms)
			}
		})
	}
}

func TestDispatcher_Slack(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, e.clock, "")
	d, _ := e.start(notify.Target{URL: r.url(), Format: notify.FormatSlack})
	g := e.requestPending("svc/ci", 2)
	d.Notify()
	m := r.next(e.ctx)
	if m.Signature != "" || m.Event != "" {
		t.Errorf("slack message has stint headers: %q %q", m.Event, m.Signature)
	}
	if text, _ := m.JSON["text"].(string); !strings.Contains(text, "Approval requested: svc/ci wants prod-db/migrate") {
		t.Errorf("text = %q", text)
	}
	blocks := m.JSON["blocks"].([]any)
	if len(blocks) != 3 {
		t.Fatalf("blocks = %s", m.Body)
	}
	header := blocks[0].(map[string]any)
	if header["type"] != "header" || !strings.Contains(header["text"].(map[string]any)["text"].(string), "Approval requested: prod-db/migrate") {
		t.Errorf("header = %v", header)
	}
	var fields []string
	for _, f := range blocks[1].(map[string]any)["fields"].([]any) {
		fields = append(fields, f.(map[string]any)["text"].(string))
	}
	for _, want := range []string{
		"*Requester*\nsvc/ci", "*Access*\nprod-db/migrate", "*Ticket*\nOPS-42", "*TTL*\n15m",
		"*Reason*\ndeploy &lt;b&gt;v2&lt;/b&gt; &amp; migrate", // user text is escaped
		"*Approvers*\ngroup:db-owners, carol@example.com (2 needed)",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("no field %q in %q", want, fields)
		}
	}
	ctxBlock := blocks[2].(map[string]any)
	text := ctxBlock["elements"].([]any)[0].(map[string]any)["text"].(string)
	if ctxBlock["type"] != "context" || !strings.Contains(text, "`stint approve "+g.ID+"`") ||
		!strings.Contains(text, "<"+testServerURL+"/ui/grants/"+g.ID+"|Open in Stint>") {
		t.Errorf("context = %q", text)
	}
}

func TestDispatcher_Order(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, e.clock, testSecret)
	target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
	d, _ := e.start(target)
	r.answer(http.StatusServiceUnavailable) // the first must be retried before the others go
	var ids []string
	for range 5 {
		ids = append(ids, e.requestPending("svc/ci", 1).ID)
	}
	d.Notify()
	if m := r.next(e.ctx); m.Status != http.StatusServiceUnavailable || grantID(m) != ids[0] {
		t.Fatalf("first attempt: %d %s", m.Status, grantID(m))
	}
	if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	for i, id := range ids {
		if m := r.next(e.ctx); m.Status != http.StatusOK || grantID(m) != id {
			t.Fatalf("message %d is about %s (status %d), want %s", i, grantID(m), m.Status, id)
		}
	}
	e.waitCursor(target.Key(), e.head())
	r.none()
}

func grantID(m message) string {
	g, _ := m.JSON["grant"].(map[string]any)
	id, _ := g["id"].(string)
	return id
}

func TestDispatcher_Run(t *testing.T) {
	t.Run("Twice", func(t *testing.T) {
		e := newEnv(t)
		r := newReceiver(t, e.clock, testSecret)
		d, _ := e.start(notify.Target{URL: r.url(), Format: notify.FormatJSON}) // returns once running
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		if err := d.Run(ctx); stint.ErrorCode(err) != stint.ECONFLICT {
			t.Errorf("second Run = %v, want ECONFLICT", err)
		}
	})
	t.Run("NewTargetStartsAtEnd", func(t *testing.T) {
		e := newEnv(t)
		e.requestPending("svc/old", 1) // history: never sent
		r := newReceiver(t, e.clock, testSecret)
		target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
		d, _ := e.start(target)
		g := e.requestPending("svc/new", 1)
		d.Notify()
		if m := r.next(e.ctx); grantID(m) != g.ID {
			t.Errorf("got %s, want only the new request %s", grantID(m), g.ID)
		}
		e.waitCursor(target.Key(), e.head())
		r.none()
	})
}

func TestDispatcher_SlackEveryEvent(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, e.clock, "")
	target := notify.Target{URL: r.url(), Format: notify.FormatSlack, On: append(slices.Clone(stint.NotifyEvents), stint.AuditGrantExpired)}
	d, _ := e.start(target)
	p := e.requestPending("svc/ci", 1)
	e.reject(p, "alice@example.com", "not now")
	g := e.grantActive("sre@example.com", true, true)
	e.expiring(g)
	e.revokeFailed(g)
	e.expire(g)
	d.Notify()
	e.waitCursor(target.Key(), e.head())
	wants := []string{
		"Approval requested: prod-db/migrate", "Request rejected: prod-db/migrate", "BREAK-GLASS access granted",
		"Access expiring soon", "Revocation failed", "Stint grant.expired",
	}
	ms := drain(r)
	if len(ms) != len(wants) {
		t.Fatalf("got %d messages, want %d", len(ms), len(wants))
	}
	for i, m := range ms {
		header := m.JSON["blocks"].([]any)[0].(map[string]any)["text"].(map[string]any)["text"].(string)
		if !strings.Contains(header, wants[i]) || m.JSON["text"] == "" {
			t.Errorf("message %d: header %q, want %q; text %q", i, header, wants[i], m.JSON["text"])
		}
	}
	if !strings.Contains(string(ms[4].Body), `*Error*\nconnection refused`) {
		t.Errorf("revoke_failed message lacks the error: %s", ms[4].Body)
	}
}
