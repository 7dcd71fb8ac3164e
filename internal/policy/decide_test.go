package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// MustCompile compiles policies or fails the test.
func MustCompile(tb testing.TB, ps ...*policy.Policy) *policy.Engine {
	tb.Helper()
	e, err := policy.Compile(ps)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return e
}

func svc(name string) *stint.Principal {
	return &stint.Principal{Name: name, Kind: stint.KindWorkload, Issuer: "static"}
}

func TestEngine_Decide(t *testing.T) {
	approval := func(n int, who ...string) *stint.ApprovalRule {
		return &stint.ApprovalRule{Approvers: who, Count: n}
	}
	sched := &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 2 * * *", Duration: time.Hour}}
	openWin := []stint.WindowRef{{Policy: "win", Opens: t0.Add(-time.Hour), Closes: t0.Add(30 * time.Minute)}}

	type want struct {
		outcome stint.Outcome
		policy  string
		ttl     time.Duration
		clamped bool
		reason  string // substring of Decision.Reason
		results []string
	}
	tests := []struct {
		name     string
		policies []*policy.Policy
		p        *stint.Principal
		req      stint.AccessRequest
		open     []stint.WindowRef
		want     want
	}{
		{
			name:     "NoPolicyDenies",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeDeny, reason: "no policy grants db/rw"},
		},
		{
			name:     "AllowDefaultTTL",
			policies: []*policy.Policy{{Name: "a", Who: `principal.name.startsWith("svc/")`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour, results: []string{"a=allow"}},
		},
		{
			name:     "WhoFalse",
			policies: []*policy.Policy{{Name: "a", Who: `principal.name == "svc/y"`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeDeny, reason: "a: principal does not match who", results: []string{"a=deny"}},
		},
		{
			name:     "GroupMembership",
			policies: []*policy.Policy{{Name: "a", Who: `"sre" in principal.groups && principal.kind == "human"`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        &stint.Principal{Name: "bob", Kind: stint.KindHuman, Groups: []string{"sre"}}, req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "Wildcard",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/*"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/anything"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "WildcardOtherResource",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/*"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "api/anything"},
			want: want{outcome: stint.OutcomeDeny, reason: "no policy grants api/anything"},
		},
		{
			name:     "ClampToMaxTTL",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: 15 * time.Minute, MaxTTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: 3 * time.Hour},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour, clamped: true, reason: "clamped to the policy's ceiling 1h"},
		},
		{
			name:     "MoreThanTTLWithinMaxTTL",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: 15 * time.Minute, MaxTTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: 45 * time.Minute},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: 45 * time.Minute},
		},
		{
			name:     "CeilingIsTTLWithoutMaxTTL",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: 15 * time.Minute}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: time.Hour},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: 15 * time.Minute, clamped: true},
		},
		{
			name:     "LessThanTTL",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: 15 * time.Minute}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: 5 * time.Second},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: 5 * time.Second},
		},
		{
			name:     "TTLTooShort",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: time.Millisecond},
			want: want{outcome: stint.OutcomeDeny, reason: "between 1s and 365d"},
		},
		{
			name:     "TTLTooLong",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", TTL: 400 * 24 * time.Hour},
			want: want{outcome: stint.OutcomeDeny, reason: "between 1s and 365d"},
		},
		{
			name:     "InvalidAccess",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/*"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/*"},
			want: want{outcome: stint.OutcomeDeny, reason: "invalid access"},
		},
		{
			name:     "RequireReasonMissing",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour, Require: []string{"reason"}}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeDeny, reason: "a: reason required"},
		},
		{
			name:     "RequireReasonGiven",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour, Require: []string{"reason", "ticket"}}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", Reason: "r", Ticket: "T-1"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "RequireTicketMissing",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour, Require: []string{"ticket"}}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", Reason: "r"},
			want: want{outcome: stint.OutcomeDeny, reason: "a: ticket required"},
		},
		{
			name:     "WhenTrue",
			policies: []*policy.Policy{{Name: "a", Who: "true", When: `request.reason != "" && request.ttl <= duration("1h") && request.resource == "db" && request.role == "ro" && request.time > timestamp("2020-01-01T00:00:00Z")`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", Reason: "r"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "WhenFalse",
			policies: []*policy.Policy{{Name: "a", Who: "true", When: `request.reason != ""`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeDeny, reason: `a: condition not met: when request.reason != ""`},
		},
		{
			name:     "RuntimeErrorFailsClosed",
			policies: []*policy.Policy{{Name: "a", Who: `principal.claims.repo == "x"`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeDeny, reason: "a: who failed: no such key: repo"},
		},
		{
			name:     "DynNonBoolFailsClosed",
			policies: []*policy.Policy{{Name: "a", Who: `principal.claims.repo`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        &stint.Principal{Name: "gh", Kind: stint.KindWorkload, Claims: map[string]any{"repo": "acme/api"}}, req: stint.AccessRequest{Access: "db/ro"},
			want: want{outcome: stint.OutcomeDeny, reason: "not bool"},
		},
		{
			name:     "ClaimsMatch",
			policies: []*policy.Policy{{Name: "a", Who: `principal.claims.repo == "acme/api" && principal.claims.run > 3`, Access: []string{"db/ro"}, TTL: time.Hour}},
			p:        &stint.Principal{Name: "gh", Kind: stint.KindWorkload, Claims: map[string]any{"repo": "acme/api", "run": float64(4)}},
			req:      stint.AccessRequest{Access: "db/ro"},
			want:     want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "ApprovalNeeded",
			policies: []*policy.Policy{{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(1, "group:owners")}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeApproval, policy: "a", ttl: time.Hour, reason: "needs 1 approval"},
		},
		{
			name: "AllowBeatsApproval",
			policies: []*policy.Policy{
				{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(1, "group:owners")},
				{Name: "b", Who: "true", Access: []string{"db/rw"}, TTL: time.Minute},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeAllow, policy: "b", ttl: time.Minute, results: []string{"a=approval", "b=allow"}},
		},
		{
			name: "FirstAllowInFileOrder",
			policies: []*policy.Policy{
				{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Minute},
				{Name: "b", Who: "true", Access: []string{"db/*"}, TTL: time.Hour},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Minute, results: []string{"a=allow", "b=allow"}},
		},
		{
			name: "FewestApprovals",
			policies: []*policy.Policy{
				{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(2, "group:owners")},
				{Name: "b", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(1, "group:owners")},
				{Name: "c", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(1, "group:sre")},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeApproval, policy: "b", ttl: time.Hour},
		},
		{
			name: "WhoMismatchListedAmongCandidates",
			policies: []*policy.Policy{
				{Name: "a", Who: "false", Access: []string{"db/rw"}, TTL: time.Hour},
				{Name: "b", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Require: []string{"reason"}},
				{Name: "c", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeDeny, reason: "a: principal does not match who; b: reason required", results: []string{"a=deny", "b=deny"}},
		},
		{
			name:     "BreakGlassNeedsReason",
			policies: []*policy.Policy{{Name: "bg", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, BreakGlass: true}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/rw"},
			want: want{outcome: stint.OutcomeDeny, reason: "bg: reason required"},
		},
		{
			name: "BreakGlassBeatsApproval",
			policies: []*policy.Policy{
				{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour, Approval: approval(1, "group:owners")},
				{Name: "bg", Who: "true", Access: []string{"db/rw"}, TTL: 30 * time.Minute, BreakGlass: true},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw", Reason: "outage"},
			want: want{outcome: stint.OutcomeAllow, policy: "bg", ttl: 30 * time.Minute, reason: "break glass"},
		},
		{
			name: "PlainAllowBeatsBreakGlass",
			policies: []*policy.Policy{
				{Name: "bg", Who: "true", Access: []string{"db/rw"}, TTL: 30 * time.Minute, BreakGlass: true},
				{Name: "a", Who: "true", Access: []string{"db/rw"}, TTL: time.Hour},
			},
			p: svc("svc/x"), req: stint.AccessRequest{Access: "db/rw", Reason: "outage"},
			want: want{outcome: stint.OutcomeAllow, policy: "a", ttl: time.Hour},
		},
		{
			name:     "WindowClosed",
			policies: []*policy.Policy{{Name: "win", Who: "true", Access: []string{"db/ro"}, TTL: 2 * time.Hour, Window: sched}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			open: []stint.WindowRef{{Policy: "other", Opens: t0.Add(-time.Hour), Closes: t0.Add(time.Hour)}},
			want: want{outcome: stint.OutcomeDeny, reason: "win: no open window"},
		},
		{
			name:     "WindowOverAtNow",
			policies: []*policy.Policy{{Name: "win", Who: "true", Access: []string{"db/ro"}, TTL: 2 * time.Hour, Window: sched}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			open: []stint.WindowRef{{Policy: "win", Opens: t0.Add(-time.Hour), Closes: t0}},
			want: want{outcome: stint.OutcomeDeny, reason: "no open window"},
		},
		{
			name:     "WindowOpenClampsTTL",
			policies: []*policy.Policy{{Name: "win", Who: "true", Access: []string{"db/ro"}, TTL: 2 * time.Hour, Window: sched}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			open: openWin,
			want: want{outcome: stint.OutcomeAllow, policy: "win", ttl: 30 * time.Minute, clamped: true, reason: "the window closes at 2025-03-01T12:30:00Z"},
		},
		{
			name:     "WindowOpenWithApproval",
			policies: []*policy.Policy{{Name: "win", Who: "true", Access: []string{"db/ro"}, TTL: 10 * time.Minute, Window: sched, Approval: approval(1, "alice")}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro"},
			open: openWin,
			want: want{outcome: stint.OutcomeApproval, policy: "win", ttl: 10 * time.Minute},
		},
		{
			name:     "BreakGlassIgnoresWindow",
			policies: []*policy.Policy{{Name: "win", Who: "true", Access: []string{"db/ro"}, TTL: 10 * time.Minute, Window: sched, BreakGlass: true}},
			p:        svc("svc/x"), req: stint.AccessRequest{Access: "db/ro", Reason: "fire"},
			want: want{outcome: stint.OutcomeAllow, policy: "win", ttl: 10 * time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustCompile(t, tt.policies...)
			d := e.Decide(tt.p, tt.req, tt.open, t0)
			if d.Outcome != tt.want.outcome || d.Policy != tt.want.policy {
				t.Fatalf("got %s under %q (%s), want %s under %q", d.Outcome, d.Policy, d.Reason, tt.want.outcome, tt.want.policy)
			}
			if d.TTL != tt.want.ttl || d.Clamped != tt.want.clamped {
				t.Errorf("ttl %v clamped %v, want %v %v (%s)", d.TTL, d.Clamped, tt.want.ttl, tt.want.clamped, d.Reason)
			}
			if !strings.Contains(d.Reason, tt.want.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.want.reason)
			}
			if tt.want.results != nil {
				var got []string
				for _, r := range d.Results {
					got = append(got, r.Policy+"="+string(r.Outcome))
				}
				if strings.Join(got, ",") != strings.Join(tt.want.results, ",") {
					t.Errorf("results %v, want %v", got, tt.want.results)
				}
			}
			if (d.Outcome == stint.OutcomeApproval) != (d.Approval != nil) {
				t.Errorf("approval rule %v with outcome %s", d.Approval, d.Outcome)
			}
			if d.Outcome != stint.OutcomeDeny && tt.policies[0].Window != nil && !d.BreakGlass && d.Window == nil {
				t.Errorf("no window in decision")
			}
		})
	}
}

func TestEngine_Decide_MaxTTLDefaultsToTTL(t *testing.T) {
	e := MustCompile(t, &policy.Policy{Name: "a", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour})
	d := e.Decide(svc("s"), stint.AccessRequest{Access: "db/ro"}, nil, t0)
	if d.MaxTTL != time.Hour {
		t.Fatalf("MaxTTL = %v", d.MaxTTL)
	}
}
