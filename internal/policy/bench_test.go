package policy_test

import (
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// BenchmarkEngine_Decide decides one request against the policies of
// CONTRACT.md section 3, with who and when conditions evaluated.
func BenchmarkEngine_Decide(b *testing.B) {
	e := MustCompile(b,
		&policy.Policy{Name: "ci", Who: `principal.name == "github:acme/api@refs/heads/main"`, Access: []string{"db/rw"}, TTL: 15 * time.Minute},
		&policy.Policy{Name: "routine", Who: `principal.kind == "workload" && principal.name.startsWith("svc/")`,
			When:   `request.reason != "" && request.ttl <= duration("1h") && request.time.getHours() >= 8 && request.role == "ro"`,
			Access: []string{"db/ro"}, TTL: 10 * time.Minute},
		&policy.Policy{Name: "bg", Who: `"sre" in principal.groups`, Access: []string{"db/ro"}, TTL: 30 * time.Minute, BreakGlass: true},
	)
	p := &stint.Principal{Name: "svc/x", Kind: stint.KindWorkload, Issuer: "static", Groups: []string{"ops"}}
	req := stint.AccessRequest{Access: "db/ro", Reason: "nightly"}
	b.ReportAllocs()
	for b.Loop() {
		if d := e.Decide(p, req, nil, t0); d.Outcome != stint.OutcomeAllow {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkEngine_MatchEvent matches one event against an event window.
func BenchmarkEngine_MatchEvent(b *testing.B) {
	e := MustCompile(b, &policy.Policy{Name: "ir", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{Source: "pd",
			Open: `event.type == "incident.triggered" && event.data.urgency == "high"`, Close: `event.type == "incident.resolved"`,
			Key: `event.data.id`, Max: time.Hour}}})
	ev := policy.Event{Source: "pd", Type: "incident.triggered", Data: map[string]any{"urgency": "high", "id": "A"}}
	b.ReportAllocs()
	for b.Loop() {
		if m, err := e.MatchEvent("ir", ev); err != nil || !m.Open {
			b.Fatal(m, err)
		}
	}
}
