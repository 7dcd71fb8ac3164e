package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

func TestCompile(t *testing.T) {
	ok := func() *policy.Policy {
		return &policy.Policy{Name: "p", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}
	}
	with := func(f func(p *policy.Policy)) []*policy.Policy { p := ok(); f(p); return []*policy.Policy{p} }
	tests := []struct {
		name     string
		policies []*policy.Policy
		want     []string // "field: message substring"
	}{
		{"Valid", with(func(p *policy.Policy) {}), nil},
		{"WhoUndeclared", with(func(p *policy.Policy) { p.Who = "request.reason != ''" }), []string{`policies[0].who: policy "p": 1:1: undeclared reference to 'request'`}},
		{"WhoNotBool", with(func(p *policy.Policy) { p.Who = `"x"` }), []string{"policies[0].who: policy \"p\": must be a bool expression, not string"}},
		{"WhoSyntax", with(func(p *policy.Policy) { p.Who = "principal.name ==" }), []string{"policies[0].who: policy \"p\": 1:"}},
		{"WhoRequired", with(func(p *policy.Policy) { p.Who = "" }), []string{"policies[0].who: required"}},
		{"WhenNotBool", with(func(p *policy.Policy) { p.When = "size(request.reason)" }), []string{"policies[0].when: policy \"p\": must be a bool expression"}},
		{"NameBad", with(func(p *policy.Policy) { p.Name = "a b" }), []string{"policies[0].name: must be"}},
		{"Access", with(func(p *policy.Policy) { p.Access = []string{"db", "db/ro/x", "db/*"} }), []string{"policies[0].access[0]:", "policies[0].access[1]:"}},
		{"AccessRequired", with(func(p *policy.Policy) { p.Access = nil }), []string{"policies[0].access: required"}},
		{"TTLRequired", with(func(p *policy.Policy) { p.TTL = 0 }), []string{"policies[0].ttl: required"}},
		{"TTLTooShort", with(func(p *policy.Policy) { p.TTL = time.Millisecond }), []string{"policies[0].ttl: must be between"}},
		{"MaxTTLLess", with(func(p *policy.Policy) { p.MaxTTL = time.Minute }), []string{"policies[0].max_ttl: must not be less than ttl"}},
		{"Require", with(func(p *policy.Policy) { p.Require = []string{"reason", "why", "reason"} }), []string{"policies[0].require[1]: must be reason or ticket", "policies[0].require[2]: duplicate"}},
		{"ApprovalCount", with(func(p *policy.Policy) {
			p.Approval = &stint.ApprovalRule{Approvers: []string{"alice", "bob"}, Count: 3}
		}), []string{"policies[0].approval.count: must not exceed the number of approvers (2)"}},
		{"ApprovalCountGroup", with(func(p *policy.Policy) {
			p.Approval = &stint.ApprovalRule{Approvers: []string{"alice", "group:sre"}, Count: 3}
		}), nil},
		{"ApprovalZero", with(func(p *policy.Policy) {
			p.Approval = &stint.ApprovalRule{Approvers: []string{"group:"}, Count: 0}
		}), []string{"policies[0].approval.approvers[0]: must be group:NAME", "policies[0].approval.count: must be at least 1"}},
		{"BreakGlassApproval", with(func(p *policy.Policy) {
			p.BreakGlass = true
			p.Approval = &stint.ApprovalRule{Approvers: []string{"a"}, Count: 1}
		}), []string{"policies[0].approval: a break_glass policy takes no approval"}},
		{"Duplicate", []*policy.Policy{ok(), ok()}, []string{`policies[1].name: duplicate policy name "p"`}},
		{"WindowEmpty", with(func(p *policy.Policy) { p.Window = &policy.WindowSpec{} }), []string{"policies[0].window: needs schedule or event"}},
		{"Schedule", with(func(p *policy.Policy) {
			p.Window = &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 2 * *", Timezone: "Mars/Base"}, Provision: []string{"db/rw"}}
		}), []string{"policies[0].window.schedule.cron:", "policies[0].window.schedule.timezone: unknown time zone", "policies[0].window.schedule.duration: required", "policies[0].window.provision[0]: db/rw is not in the policy's access"}},
		{"ScheduleValid", with(func(p *policy.Policy) {
			p.Window = &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 2 * * 1-5", Timezone: "Europe/Paris", Duration: time.Hour}, Provision: []string{"db/ro"}}
		}), nil},
		{"Event", with(func(p *policy.Policy) {
			p.Window = &policy.WindowSpec{Event: &policy.EventSpec{Open: "principal.name == ''", Close: "1", Key: "event.data.id == 1"}}
		}), []string{"policies[0].window.event.source: required", "policies[0].window.event.open: policy \"p\": 1:1: undeclared reference to 'principal'", "policies[0].window.event.close: policy \"p\": must be a bool expression, not int", "policies[0].window.event.key: policy \"p\": must be a string expression, not bool", "policies[0].window.event.max: required"}},
		{"Both", with(func(p *policy.Policy) {
			p.Window = &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "@daily", Duration: time.Hour}, Event: &policy.EventSpec{Source: "pd", Open: "true", Max: time.Hour}}
		}), []string{"policies[0].window: takes schedule or event, not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Compile(tt.policies)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			var fes stint.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("Compile error %v is not FieldErrors", err)
			}
			if stint.ErrorCode(err) != stint.EINVALID {
				t.Errorf("code %q", stint.ErrorCode(err))
			}
			var got []string
			for _, fe := range fes {
				got = append(got, fe.Field+": "+fe.Message)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("no error %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestEngine_Policy(t *testing.T) {
	e := MustCompile(t,
		&policy.Policy{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour},
		&policy.Policy{Name: "b", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour})
	if e.Policy("b") == nil || e.Policy("b").Name != "b" || e.Policy("zz") != nil {
		t.Fatal("Policy lookup")
	}
	if ps := e.Policies(); len(ps) != 2 || ps[0].Name != "a" {
		t.Fatalf("Policies = %v", ps)
	}
	p := &policy.Policy{Name: "s", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 2 * * *", Timezone: "America/New_York", Duration: time.Hour}}}
	MustCompile(t, p)
	s := p.Window.Schedule
	next := s.Schedule().Next(time.Date(2025, 1, 1, 0, 0, 0, 0, s.Location()))
	if next.Hour() != 2 || next.Location().String() != "America/New_York" {
		t.Fatalf("next = %v", next)
	}
}

func TestEngine_MatchEvent(t *testing.T) {
	p := &policy.Policy{Name: "ir", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{
			Source: "pagerduty",
			Open:   `event.type == "incident.triggered" && event.data.urgency == "high"`,
			Close:  `event.type == "incident.resolved"`,
			Key:    `event.data.id`,
			Max:    4 * time.Hour,
		}}}
	e := MustCompile(t, p, &policy.Policy{Name: "plain", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour})
	tests := []struct {
		name    string
		policy  string
		ev      policy.Event
		want    policy.EventMatch
		wantErr bool
	}{
		{"Open", "ir", policy.Event{Source: "pagerduty", Type: "incident.triggered", Data: map[string]any{"urgency": "high", "id": "A"}}, policy.EventMatch{Open: true, Key: "A"}, false},
		{"LowUrgency", "ir", policy.Event{Source: "pagerduty", Type: "incident.triggered", Data: map[string]any{"urgency": "low", "id": "A"}}, policy.EventMatch{}, false},
		{"Close", "ir", policy.Event{Source: "pagerduty", Type: "incident.resolved", Data: map[string]any{"id": "B"}}, policy.EventMatch{Close: true, Key: "B"}, false},
		{"OtherSource", "ir", policy.Event{Source: "github", Type: "incident.resolved"}, policy.EventMatch{}, false},
		{"MissingField", "ir", policy.Event{Source: "pagerduty", Type: "incident.triggered"}, policy.EventMatch{}, true},
		{"NoWindow", "plain", policy.Event{Source: "pagerduty"}, policy.EventMatch{}, false},
		{"Unknown", "zz", policy.Event{Source: "pagerduty"}, policy.EventMatch{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.MatchEvent(tt.policy, tt.ev)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestEngine_Decide_CostLimit(t *testing.T) {
	e := MustCompile(t, &policy.Policy{Name: "slow", TTL: time.Hour, Access: []string{"db/ro"},
		Who: `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(f, principal.name.size() >= 0)))))`})
	d := e.Decide(svc("s"), stint.AccessRequest{Access: "db/ro"}, nil, t0)
	if d.Outcome != stint.OutcomeDeny || !strings.Contains(d.Reason, "who failed") {
		t.Fatalf("got %s: %s", d.Outcome, d.Reason)
	}
}

func TestCompileSubject(t *testing.T) {
	s, err := policy.CompileSubject(`"github:" + claims.repository + "@" + claims.ref`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Eval("github", map[string]any{"repository": "acme/api", "ref": "refs/heads/main"})
	if err != nil || got != "github:acme/api@refs/heads/main" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := s.Eval("github", nil); stint.ErrorCode(err) != stint.EUNAUTHORIZED {
		t.Fatalf("missing claim: %v", err)
	}
	def, err := policy.CompileSubject("")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := def.Eval("gh", map[string]any{"sub": "x"}); got != "gh:x" {
		t.Fatalf("default subject %q", got)
	}
	if _, err := policy.CompileSubject("claims.a == 1"); stint.ErrorCode(err) != stint.EINVALID {
		t.Fatalf("bool subject: %v", err)
	}
}
