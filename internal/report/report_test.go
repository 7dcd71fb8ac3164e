package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/report"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture)
		part  func(r *stint.Report) any // the figures the case checks
		want  any
	}{
		{
			name: "RequestsAndPeriodBounds",
			setup: func(f *fixture) {
				f.add(grant(-time.Millisecond, "ci", stint.StateActive), nil) // before the period
				f.add(grant(0, "ci", stint.StateActive), nil)
				f.add(grant(time.Hour, "ci", stint.StatePending), nil)
				f.add(grant(2*time.Hour, "ci", stint.StateDenied), nil)
				f.add(grant(3*time.Hour, "prod", stint.StateRejected), nil)
				f.add(grant(4*time.Hour, "prod", stint.StateCancelled), nil)
				f.add(grant(5*time.Hour, "prod", stint.StateFailed), nil)
				f.add(grant(6*time.Hour, "prod", stint.StateScheduled), nil)
				f.add(grant(7*time.Hour, "prod", stint.StateIssuing), nil)
				f.add(grant(8*time.Hour, "prod", stint.StateRevoking), nil)
				f.add(grant(day-time.Nanosecond, "ci", stint.StateActive), nil)
				f.add(grant(day, "ci", stint.StateActive), nil) // at the end: outside
				f.add(grant(day+time.Hour, "ci", stint.StateActive), nil)
			},
			part: func(r *stint.Report) any {
				byPolicy := map[string]any{}
				for _, p := range r.ByPolicy {
					byPolicy[p.Policy] = []any{p.Requests, p.ByOutcome}
				}
				return []any{r.Period, r.Requests, byPolicy}
			},
			want: []any{
				stint.ReportPeriod{From: T, To: T.Add(day)},
				stint.RequestCounts{Total: 10, ByOutcome: outcomes(
					stint.StateActive, 2, stint.StatePending, 1, stint.StateDenied, 1, stint.StateRejected, 1,
					stint.StateCancelled, 1, stint.StateFailed, 1, stint.StateScheduled, 1, stint.StateIssuing, 1,
					stint.StateRevoking, 1)},
				map[string]any{
					"ci": []any{4, outcomes(stint.StateActive, 2, stint.StatePending, 1, stint.StateDenied, 1)},
					"prod": []any{6, outcomes(stint.StateRejected, 1, stint.StateCancelled, 1, stint.StateFailed, 1,
						stint.StateScheduled, 1, stint.StateIssuing, 1, stint.StateRevoking, 1)},
				},
			},
		},
		{
			name: "SessionDurationAndUnusedAccess",
			setup: func(f *fixture) {
				usages := []map[string]any{used, used, unused, unobservable, noUsage, used}
				for i, u := range usages {
					g := ended(grant(time.Duration(i)*time.Hour, "ci", stint.StateExpired), time.Second, time.Duration(5+i)*time.Minute, time.Hour)
					f.add(g, u)
				}
				// Revoked early, with no end record at all: unobservable.
				f.add(ended(grant(7*time.Hour, "prod", stint.StateRevoked), time.Minute, 20*time.Minute, 30*time.Minute), nil)
				f.add(ended(grant(8*time.Hour, "prod", stint.StateRevoked), time.Minute, 30*time.Minute, 30*time.Minute), unused)
				// Not counted: still active, revoking, never activated, requested before the period.
				f.add(grant(9*time.Hour, "ci", stint.StateActive), nil)
				f.add(ended(grant(10*time.Hour, "ci", stint.StateRevoking), time.Second, time.Minute, time.Hour), nil)
				f.add(grant(11*time.Hour, "ci", stint.StateCancelled), nil)
				f.add(ended(grant(-time.Hour, "ci", stint.StateExpired), time.Second, time.Hour, time.Hour), unused)
			},
			part: func(r *stint.Report) any {
				out := []any{r.SessionDuration, r.UnusedAccess}
				for _, p := range r.ByPolicy {
					out = append(out, p.Policy, p.SessionDuration, p.UnusedAccess)
				}
				return out
			},
			want: []any{
				stint.SessionStats{Count: 8, Mean: (45*60 + 50*60) / 8.0, P50: secs(8 * time.Minute), P95: secs(30 * time.Minute),
					TTLRatio: 0.3021}, // (45/60 + 20/30 + 30/30) / 8
				stint.UnusedAccess{Ended: 8, Unused: 2, Unobservable: 3, UnusedShare: 2.0 / 5},
				"ci",
				stint.SessionStats{Count: 6, Mean: 450, P50: 420, P95: 600, TTLRatio: 0.125},
				stint.UnusedAccess{Ended: 6, Unused: 1, Unobservable: 2, UnusedShare: 0.25},
				"prod",
				stint.SessionStats{Count: 2, Mean: 1500, P50: 1200, P95: 1800, TTLRatio: 0.8333},
				stint.UnusedAccess{Ended: 2, Unused: 1, Unobservable: 1, UnusedShare: 1},
			},
		},
		{
			name: "TTLRecommendations",
			setup: func(f *fixture) {
				// ci: 6 sessions of 5..10m under a 1h TTL: recommend 10m.
				for i := range 6 {
					f.add(ended(grant(time.Duration(i)*time.Minute, "ci", stint.StateExpired), time.Second, time.Duration(5+i)*time.Minute, time.Hour), used)
				}
				// batch: p95 6m12s rounds up to 7m of a 1h TTL.
				for i, d := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 6*time.Minute + 12*time.Second} {
					f.add(ended(grant(time.Hour+time.Duration(i)*time.Minute, "batch", stint.StateRevoked), time.Second, d, time.Hour), used)
				}
				// short: sessions of seconds get at least a minute, of a 15m TTL.
				for i := range 5 {
					f.add(ended(grant(2*time.Hour+time.Duration(i)*time.Minute, "short", stint.StateExpired), time.Second, 10*time.Second, 15*time.Minute), used)
				}
				// few: only 4 sessions.
				for i := range 4 {
					f.add(ended(grant(3*time.Hour+time.Duration(i)*time.Minute, "few", stint.StateExpired), time.Second, time.Minute, time.Hour), used)
				}
				// busy: p95 40m of a 1h TTL is not worth a change.
				for i := range 5 {
					f.add(ended(grant(4*time.Hour+time.Duration(i)*time.Minute, "busy", stint.StateExpired), time.Second, 40*time.Minute, time.Hour), used)
				}
				// full: sessions use the whole TTL.
				for i := range 5 {
					f.add(ended(grant(5*time.Hour+time.Duration(i)*time.Minute, "full", stint.StateExpired), time.Second, time.Hour, time.Hour), used)
				}
			},
			part: func(r *stint.Report) any { return r.TTLRecommendations },
			want: []stint.TTLRecommendation{
				{Policy: "batch", TTL: 3600, Recommended: 420, Sessions: 5, P95: 372, Evidence: "p95 of 5 sessions is 6m12s of a 1h ttl"},
				{Policy: "ci", TTL: 3600, Recommended: 600, Sessions: 6, P95: 600, Evidence: "p95 of 6 sessions is 10m of a 1h ttl"},
				{Policy: "short", TTL: 900, Recommended: 60, Sessions: 5, P95: 10, Evidence: "p95 of 5 sessions is 10s of a 15m ttl"},
			},
		},
		{
			name: "ApprovalLatencyAndBottlenecks",
			setup: func(f *fixture) {
				p1 := decide(grant(time.Hour, "prod", stint.StateExpired), "alice", "approved", 2*time.Minute)
				p1.ApprovalsRequired = 1
				f.add(ended(p1, 3*time.Minute, 20*time.Minute, 30*time.Minute), unused)
				p2 := decide(grant(2*time.Hour, "prod", stint.StateActive), "bob", "approved", 10*time.Minute)
				p2.ApprovalsRequired = 1
				f.add(p2, nil)
				p3 := decide(grant(3*time.Hour, "prod", stint.StateRejected), "alice", "rejected", time.Minute)
				p3.ApprovalsRequired = 1
				f.add(p3, nil)
				// Two approvals needed; alice's second click does not count.
				p4 := grant(4*time.Hour, "dual", stint.StateActive)
				p4.ApprovalsRequired = 2
				decide(decide(decide(p4, "alice", "approved", time.Minute), "alice", "approved", 2*time.Minute), "bob", "approved", 5*time.Minute)
				f.add(p4, nil)
				// Half approved, still pending.
				p5 := decide(grant(20*time.Hour, "dual", stint.StatePending), "carol", "approved", time.Hour)
				p5.ApprovalsRequired, p5.Approvers = 2, []string{"group:dba"}
				f.add(p5, nil)
				// Pending since before the period: still a bottleneck.
				p6 := grant(-2*time.Hour, "prod", stint.StatePending)
				p6.ApprovalsRequired, p6.Approvers = 1, []string{"alice", "bob"}
				f.add(p6, nil)
				// A break-glass review is not a decision.
				bg := decide(grant(5*time.Hour, "glass", stint.StateExpired), "admin", "reviewed", 3*time.Hour)
				bg.BreakGlass = true
				f.add(ended(bg, 0, time.Hour, time.Hour), used)
			},
			part: func(r *stint.Report) any {
				out := []any{r.ApprovalLatency, r.Bottlenecks}
				for _, p := range r.ByPolicy {
					out = append(out, p.Policy, p.ApprovalLatency, p.Decisions)
				}
				return out
			},
			want: []any{
				stint.ApprovalLatency{Count: 3, P50: 300, P95: 600, OldestPending: secs(26 * time.Hour)},
				[]stint.Bottleneck{
					{Kind: "pending", PendingRequest: &stint.PendingRequest{GrantID: idAt(T.Add(-2 * time.Hour)), Access: "db/readonly",
						Policy: "prod", Principal: "svc/app", Age: secs(26 * time.Hour), Approvers: []string{"alice", "bob"}}},
					{Kind: "pending", PendingRequest: &stint.PendingRequest{GrantID: idAt(T.Add(20 * time.Hour)), Access: "db/readonly",
						Policy: "dual", Principal: "svc/app", Age: secs(4 * time.Hour), Approvers: []string{"group:dba"}}},
					{Kind: "approver", SlowApprover: &stint.SlowApprover{Approver: "carol", Decisions: 1, P50: 3600}},
					{Kind: "approver", SlowApprover: &stint.SlowApprover{Approver: "bob", Decisions: 2, P50: 300}},
					{Kind: "approver", SlowApprover: &stint.SlowApprover{Approver: "alice", Decisions: 4, P50: 60}},
				},
				"dual", stint.ApprovalLatency{Count: 1, P50: 300, P95: 300, OldestPending: secs(4 * time.Hour)},
				stint.DecisionStats{Decisions: 4, Approved: 4, ApprovalRate: 1, Median: 120},
				"glass", stint.ApprovalLatency{}, stint.DecisionStats{},
				"prod", stint.ApprovalLatency{Count: 2, P50: 120, P95: 600, OldestPending: secs(26 * time.Hour)},
				stint.DecisionStats{Decisions: 3, Approved: 2, Rejected: 1, ApprovalRate: 0.6667, Median: 120},
			},
		},
		{
			name: "OverApproval",
			setup: func(f *fixture) {
				approved := func(at time.Duration, policy, by string, after time.Duration) {
					g := decide(grant(at, policy, stint.StateActive), by, "approved", after)
					g.ApprovalsRequired = 1
					f.add(g, nil)
				}
				for i := range 20 { // 20 decisions, all approved, after 5 minutes
					approved(time.Duration(i)*time.Minute, "bulk", "alice", 5*time.Minute)
				}
				for i := range 19 { // 19: not enough to judge the rate
					approved(time.Hour+time.Duration(i)*time.Minute, "nineteen", "alice", 5*time.Minute)
				}
				for i, after := range []time.Duration{10 * time.Second, 20 * time.Second, 5 * time.Second} {
					approved(2*time.Hour+time.Duration(i)*time.Minute, "ops", "carol", after)
				}
				// 20 decisions, one rejected: 95%, and fast.
				for i := range 19 {
					approved(3*time.Hour+time.Duration(i)*time.Minute, "hot", "dave", 2*time.Second)
				}
				r := decide(grant(4*time.Hour, "hot", stint.StateRejected), "dave", "rejected", 3*time.Second)
				r.ApprovalsRequired = 1
				f.add(r, nil)
			},
			part: func(r *stint.Report) any { return r.OverApproval },
			want: []stint.OverApproval{
				{Policy: "bulk", DecisionStats: stint.DecisionStats{Decisions: 20, Approved: 20, ApprovalRate: 1, Median: 300},
					Warning: "approved 100% of 20 decisions: approval may be a formality"},
				{Policy: "hot", DecisionStats: stint.DecisionStats{Decisions: 20, Approved: 19, Rejected: 1, ApprovalRate: 0.95, Median: 2},
					Warning: "approved 95% of 20 decisions: approval may be a formality; median decision in 2s: approved within seconds: rubber stamp?"},
				{Policy: "ops", DecisionStats: stint.DecisionStats{Decisions: 3, Approved: 3, ApprovalRate: 1, Median: 10},
					Warning: "median decision in 10s: approved within seconds: rubber stamp?"},
			},
		},
		{
			name: "Denials",
			setup: func(f *fixture) {
				deny := func(at time.Duration, principal, access, why string) {
					g := grant(at, "", stint.StateDenied)
					g.Principal, g.Access, g.Detail = principal, access, why
					g.EndedAt = stint.TimePtr(g.RequestedAt)
					f.add(g, nil)
				}
				for i := range 3 {
					deny(time.Duration(i)*time.Minute, "svc/a", "db/admin", "no policy allows db/admin")
				}
				deny(time.Hour, "svc/b", "db/admin", "no policy allows db/admin")
				deny(2*time.Hour, "svc/a", "db/admin", "outside the window")
				deny(-time.Hour, "svc/a", "db/admin", "outside the window") // before the period
				for i := range 20 {
					deny(3*time.Hour+time.Duration(i)*time.Minute, fmt.Sprintf("svc/x%02d", i), "db/readonly", "no")
				}
			},
			part: func(r *stint.Report) any { return r.Denials },
			want: func() []stint.DenialCount {
				w := []stint.DenialCount{
					{Principal: "svc/a", Access: "db/admin", Count: 3, Reason: "no policy allows db/admin"},
					{Principal: "svc/a", Access: "db/admin", Count: 1, Reason: "outside the window"},
					{Principal: "svc/b", Access: "db/admin", Count: 1, Reason: "no policy allows db/admin"},
				}
				for i := range 17 {
					w = append(w, stint.DenialCount{Principal: fmt.Sprintf("svc/x%02d", i), Access: "db/readonly", Count: 1, Reason: "no"})
				}
				return w
			}(),
		},
		{
			name: "RevocationFailures",
			setup: func(f *fixture) {
				f.audit(stint.AuditGrantRevokeFailed, -time.Second)
				f.audit(stint.AuditGrantRevokeFailed, 0)
				f.audit(stint.AuditGrantRevoked, time.Hour)
				f.audit(stint.AuditGrantRevokeFailed, 2*time.Hour)
				f.audit(stint.AuditGrantRevokeFailed, day)
			},
			part: func(r *stint.Report) any { return r.RevocationFailures },
			want: 2,
		},
		{
			name: "StandingAccess",
			setup: func(f *fixture) {
				f.discovery("prod-db", -10*day, 4)
				f.discovery("bastion", -9*day, 2)
				f.discovery("prod-db", -day, 3)
				f.discovery("prod-db", time.Hour, 1)
			},
			part: func(r *stint.Report) any { return r.StandingAccess },
			want: stint.StandingAccess{Baseline: 6, Current: 3, Reduction: 0.5},
		},
		{
			name: "StandingAccessGrew",
			setup: func(f *fixture) {
				f.discovery("prod-db", -10*day, 2)
				f.discovery("prod-db", -day, 3)
			},
			part: func(r *stint.Report) any { return r.StandingAccess },
			want: stint.StandingAccess{Baseline: 2, Current: 3, Reduction: -0.5},
		},
		{
			name: "ManyGrantsAcrossPages",
			setup: func(f *fixture) {
				for i := range 1203 {
					f.add(grant(time.Duration(i-1)*time.Second, "ci", stint.StateActive), nil)
				}
			},
			part: func(r *stint.Report) any { return r.Requests.Total },
			want: 1202,
		},
	}
	stores := []struct {
		name string
		wrap func(s stint.Store) stint.Store
	}{
		{"SQLite", func(s stint.Store) stint.Store { return s }},
		{"Listings", func(s stint.Store) stint.Store { return listingStore{s, s.(stint.DiscoveryStore)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fixture{t: t, s: MustOpenStore(t)}
			tt.setup(f)
			for _, st := range stores {
				t.Run(st.name, func(t *testing.T) {
					r, err := report.Build(context.Background(), st.wrap(f.s), T, T.Add(day))
					if err != nil {
						t.Fatal(err)
					}
					if got, want := mustJSON(t, tt.part(r)), mustJSON(t, tt.want); got != want {
						t.Errorf("got\n%s\nwant\n%s", got, want)
					}
				})
			}
		})
	}
}

func TestBuild_Empty(t *testing.T) {
	r, err := report.Build(context.Background(), MustOpenStore(t), T, T.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "period": {
    "from": "2030-03-01T00:00:00Z",
    "to": "2030-03-02T00:00:00Z"
  },
  "requests": {
    "total": 0,
    "by_outcome": {
      "active": 0,
      "cancelled": 0,
      "denied": 0,
      "expired": 0,
      "failed": 0,
      "issuing": 0,
      "pending": 0,
      "rejected": 0,
      "revoked": 0,
      "revoking": 0,
      "scheduled": 0
    }
  },
  "session_duration": {
    "count": 0,
    "mean": 0,
    "p50": 0,
    "p95": 0,
    "ttl_ratio": 0
  },
  "approval_latency": {
    "count": 0,
    "p50": 0,
    "p95": 0,
    "oldest_pending": 0
  },
  "unused_access": {
    "ended": 0,
    "unused": 0,
    "unobservable": 0,
    "unused_share": 0
  },
  "standing_access": {
    "baseline": 0,
    "current": 0,
    "reduction": 0
  },
  "ttl_recommendations": [],
  "denials": [],
  "bottlenecks": [],
  "over_approval": [],
  "revocation_failures": 0,
  "by_policy": []
}`
	if got := mustJSON(t, r); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBuild_InvalidPeriod(t *testing.T) {
	s := MustOpenStore(t)
	for name, p := range map[string][2]time.Time{
		"Reversed": {T.Add(day), T},
		"Empty":    {T, T},
		"ZeroFrom": {{}, T},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := report.Build(context.Background(), s, p[0], p[1])
			if stint.ErrorCode(err) != stint.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
}
