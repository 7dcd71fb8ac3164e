package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stint-io/stint"
)

// Approval decisions as recorded in stint.Approval.Decision.
const (
	decisionApproved = "approved"
	decisionRejected = "rejected"
)

// builder accumulates the grants of a period.
type builder struct {
	from, to  time.Time
	all       *figures
	policies  map[string]*figures
	denials   map[denialKey]int
	approvers map[string][]time.Duration
	pending   []stint.PendingRequest
}

type denialKey struct{ principal, access, reason string }

// figures accumulates one scope: the whole report or one policy.
type figures struct {
	requests  int
	byOutcome map[string]int

	sessions []time.Duration
	ratioSum float64 // sum of session / granted TTL
	ratioN   int
	maxTTL   time.Duration

	latencies     []time.Duration
	oldestPending time.Duration

	ended, unused, unobservable int

	approved, rejected int
	decisions          []time.Duration
}

func newFigures() *figures {
	m := make(map[string]int, len(stint.States))
	for _, s := range stint.States {
		m[string(s)] = 0
	}
	return &figures{byOutcome: m}
}

func newBuilder(from, to time.Time) *builder {
	return &builder{
		from: from, to: to,
		all:       newFigures(),
		policies:  map[string]*figures{},
		denials:   map[denialKey]int{},
		approvers: map[string][]time.Duration{},
	}
}

func (b *builder) policy(name string) *figures {
	f := b.policies[name]
	if f == nil {
		f = newFigures()
		b.policies[name] = f
	}
	return f
}

// addGrant counts a grant requested in the period; end is the audit record
// of its end, if any.
func (b *builder) addGrant(g *stint.Grant, end *stint.AuditRecord) {
	scopes := [2]*figures{b.all, b.policy(g.Policy)}
	for _, f := range scopes {
		f.requests++
		f.byOutcome[string(g.State)]++
	}
	if g.State == stint.StateDenied {
		b.denials[denialKey{g.Principal, g.Access, g.Detail}]++
	}
	if (g.State == stint.StateExpired || g.State == stint.StateRevoked) && g.ActivatedAt != nil && g.EndedAt != nil {
		d := max(g.EndedAt.Sub(*g.ActivatedAt), 0)
		use := usageOf(end)
		for _, f := range scopes {
			f.sessions = append(f.sessions, d)
			if g.TTL > 0 {
				f.ratioSum += float64(d) / float64(g.TTL)
				f.ratioN++
			}
			f.maxTTL = max(f.maxTTL, time.Duration(g.TTL))
			f.ended++
			switch use {
			case usageUnused:
				f.unused++
			case usageUnknown:
				f.unobservable++
			}
		}
	}
	if at, ok := approvedAt(g); ok {
		d := max(at.Sub(g.RequestedAt), 0)
		for _, f := range scopes {
			f.latencies = append(f.latencies, d)
		}
	}
	for _, a := range g.Approvals {
		if a.Decision != decisionApproved && a.Decision != decisionRejected {
			continue // a break-glass review is not a decision on the request
		}
		d := max(a.At.Sub(g.RequestedAt), 0)
		for _, f := range scopes {
			if a.Decision == decisionApproved {
				f.approved++
			} else {
				f.rejected++
			}
			f.decisions = append(f.decisions, d)
		}
		b.approvers[a.By] = append(b.approvers[a.By], d)
	}
}

// addPending counts a request pending now. A request with all its
// approvals waits for its requester to collect it, not for approvers: it is
// no approval bottleneck.
func (b *builder) addPending(g *stint.Grant) {
	if fullyApproved(g) {
		return
	}
	age := max(b.to.Sub(g.RequestedAt), 0)
	for _, f := range [2]*figures{b.all, b.policy(g.Policy)} {
		f.oldestPending = max(f.oldestPending, age)
	}
	approvers := g.Approvers
	if approvers == nil {
		approvers = []string{}
	}
	b.pending = append(b.pending, stint.PendingRequest{
		GrantID: g.ID, Access: g.Access, Policy: g.Policy, Principal: g.Principal,
		Age: seconds(age), Approvers: approvers,
	})
	// Keep only the oldest: memory stays bounded however many are pending.
	if len(b.pending) >= 4*TopPending {
		b.pending = oldestPending(b.pending)
	}
}

func oldestPending(ps []stint.PendingRequest) []stint.PendingRequest {
	slices.SortFunc(ps, func(x, y stint.PendingRequest) int {
		return cmp.Or(cmp.Compare(y.Age, x.Age), cmp.Compare(x.GrantID, y.GrantID))
	})
	return ps[:min(len(ps), TopPending)]
}

// approvedAt returns when a grant that needed approval got the last approval
// it needed: the ApprovalsRequired-th distinct approver's.
func approvedAt(g *stint.Grant) (time.Time, bool) {
	if g.ApprovalsRequired <= 0 {
		return time.Time{}, false
	}
	seen := map[string]bool{}
	for _, a := range g.Approvals {
		if a.Decision != decisionApproved || seen[a.By] {
			continue
		}
		seen[a.By] = true
		if len(seen) == g.ApprovalsRequired {
			return a.At, true
		}
	}
	return time.Time{}, false
}

// Usage of an ended grant, from the audit record of its end.
type usage int

const (
	usageUnknown usage = iota // "usage": "unobservable", or nothing recorded
	usageUsed
	usageUnused
)

func usageOf(end *stint.AuditRecord) usage {
	if end == nil {
		return usageUnknown
	}
	switch used, _ := end.Details["used"].(bool); {
	case end.Details["usage"] == "unobservable":
		return usageUnknown
	case end.Details["used"] == nil:
		return usageUnknown
	case used:
		return usageUsed
	default:
		return usageUnused
	}
}

// report assembles the figures.
func (b *builder) report() *stint.Report {
	r := &stint.Report{
		Period:             stint.ReportPeriod{From: b.from, To: b.to},
		Requests:           stint.RequestCounts{Total: b.all.requests, ByOutcome: b.all.byOutcome},
		SessionDuration:    b.all.sessionStats(),
		ApprovalLatency:    b.all.approvalLatency(),
		UnusedAccess:       b.all.unusedAccess(),
		TTLRecommendations: []stint.TTLRecommendation{},
		Denials:            b.denialCounts(),
		Bottlenecks:        b.bottlenecks(),
		OverApproval:       []stint.OverApproval{},
		ByPolicy:           []stint.PolicyReport{},
	}
	for _, name := range stint.SortedKeys(b.policies) {
		f := b.policies[name]
		ds := f.decisionStats()
		r.ByPolicy = append(r.ByPolicy, stint.PolicyReport{
			Policy: name, Requests: f.requests, ByOutcome: f.byOutcome,
			SessionDuration: f.sessionStats(), ApprovalLatency: f.approvalLatency(),
			UnusedAccess: f.unusedAccess(), Decisions: ds,
		})
		if rec, ok := f.ttlRecommendation(name); ok {
			r.TTLRecommendations = append(r.TTLRecommendations, rec)
		}
		if w := overApprovalWarning(ds); w != "" {
			r.OverApproval = append(r.OverApproval, stint.OverApproval{Policy: name, DecisionStats: ds, Warning: w})
		}
	}
	return r
}

func (f *figures) sessionStats() stint.SessionStats {
	s := stint.SessionStats{Count: len(f.sessions)}
	if s.Count == 0 {
		return s
	}
	slices.Sort(f.sessions)
	var sum float64
	for _, d := range f.sessions {
		sum += d.Seconds() // float: a sum of nanoseconds could overflow
	}
	s.Mean = roundSeconds(sum / float64(s.Count))
	s.P50 = seconds(percentile(f.sessions, 50))
	s.P95 = seconds(percentile(f.sessions, 95))
	if f.ratioN > 0 {
		s.TTLRatio = roundRatio(f.ratioSum / float64(f.ratioN))
	}
	return s
}

func (f *figures) approvalLatency() stint.ApprovalLatency {
	l := stint.ApprovalLatency{Count: len(f.latencies), OldestPending: seconds(f.oldestPending)}
	if l.Count > 0 {
		slices.Sort(f.latencies)
		l.P50 = seconds(percentile(f.latencies, 50))
		l.P95 = seconds(percentile(f.latencies, 95))
	}
	return l
}

func (f *figures) unusedAccess() stint.UnusedAccess {
	u := stint.UnusedAccess{Ended: f.ended, Unused: f.unused, Unobservable: f.unobservable}
	if n := f.ended - f.unobservable; n > 0 {
		u.UnusedShare = roundRatio(float64(f.unused) / float64(n))
	}
	return u
}

func (f *figures) decisionStats() stint.DecisionStats {
	d := stint.DecisionStats{Decisions: len(f.decisions), Approved: f.approved, Rejected: f.rejected}
	if n := f.approved + f.rejected; n > 0 {
		d.ApprovalRate = roundRatio(float64(f.approved) / float64(n))
	}
	if len(f.decisions) > 0 {
		slices.Sort(f.decisions)
		d.Median = seconds(percentile(f.decisions, 50))
	}
	return d
}

// ttlRecommendation proposes the p95 session length, rounded up to a whole
// minute and never above the granted TTL (the largest seen in the period),
// when the policy has enough sessions and the proposal is well below the TTL.
func (f *figures) ttlRecommendation(policy string) (stint.TTLRecommendation, bool) {
	if len(f.sessions) < MinSessionsForTTL || f.maxTTL <= 0 {
		return stint.TTLRecommendation{}, false
	}
	slices.Sort(f.sessions)
	p95 := percentile(f.sessions, 95)
	rec := min(max(p95.Truncate(time.Minute), time.Minute), f.maxTTL)
	if rec < p95 {
		rec = min(rec+time.Minute, f.maxTTL)
	}
	if float64(rec) >= TTLWasteRatio*float64(f.maxTTL) {
		return stint.TTLRecommendation{}, false
	}
	return stint.TTLRecommendation{
		Policy: policy, TTL: seconds(f.maxTTL), Recommended: seconds(rec),
		Sessions: len(f.sessions), P95: seconds(p95),
		Evidence: fmt.Sprintf("p95 of %d sessions is %s of a %s ttl", len(f.sessions),
			stint.FormatDuration(p95.Round(time.Second)), stint.FormatDuration(f.maxTTL)),
	}, true
}

// overApprovalWarning returns why a policy's approval looks like a formality,
// or "".
func overApprovalWarning(d stint.DecisionStats) string {
	var w string
	if d.Decisions >= OverApprovalDecisions && d.ApprovalRate >= OverApprovalRate {
		w = fmt.Sprintf("approved %.0f%% of %d decisions: approval may be a formality", math.Floor(d.ApprovalRate*100), d.Decisions)
	}
	if d.Decisions > 0 && d.Median < RubberStampMedian.Seconds() {
		if w != "" {
			w += "; "
		}
		w += fmt.Sprintf("median decision in %s: approved within seconds: rubber stamp?",
			stint.FormatDuration(time.Duration(d.Median*float64(time.Second)).Round(time.Second)))
	}
	return w
}

func (b *builder) denialCounts() []stint.DenialCount {
	out := make([]stint.DenialCount, 0, len(b.denials))
	for k, n := range b.denials {
		out = append(out, stint.DenialCount{Principal: k.principal, Access: k.access, Reason: k.reason, Count: n})
	}
	slices.SortFunc(out, func(x, y stint.DenialCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Principal, y.Principal),
			cmp.Compare(x.Access, y.Access), cmp.Compare(x.Reason, y.Reason))
	})
	return out[:min(len(out), TopDenials)]
}

// bottlenecks lists the oldest pending requests, then the slowest approvers.
func (b *builder) bottlenecks() []stint.Bottleneck {
	out := []stint.Bottleneck{}
	for _, p := range oldestPending(b.pending) {
		out = append(out, stint.Bottleneck{Kind: stint.BottleneckPending, PendingRequest: &p})
	}
	slow := make([]stint.SlowApprover, 0, len(b.approvers))
	for name, ds := range b.approvers {
		slices.Sort(ds)
		slow = append(slow, stint.SlowApprover{Approver: name, Decisions: len(ds), P50: seconds(percentile(ds, 50))})
	}
	slices.SortFunc(slow, func(x, y stint.SlowApprover) int {
		return cmp.Or(cmp.Compare(y.P50, x.P50), cmp.Compare(y.Decisions, x.Decisions), cmp.Compare(x.Approver, y.Approver))
	})
	for _, s := range slow[:min(len(slow), TopApprovers)] {
		out = append(out, stint.Bottleneck{Kind: stint.BottleneckApprover, SlowApprover: &s})
	}
	return out
}

// percentile returns the p-th percentile (nearest rank) of sorted, which
// must not be empty: the smallest value with at least p% of the values at or
// below it.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}

// seconds returns d in seconds, to the millisecond.
func seconds(d time.Duration) float64 { return roundSeconds(d.Seconds()) }

func roundSeconds(s float64) float64 { return math.Round(s*1e3) / 1e3 }

// roundRatio rounds a ratio to four decimals: enough to read, and the same
// whatever order the grants were summed in.
func roundRatio(r float64) float64 { return math.Round(r*1e4) / 1e4 }

// fullyApproved reports whether g has its required distinct approvals.
func fullyApproved(g *stint.Grant) bool {
	seen := map[string]bool{}
	for _, a := range g.Approvals {
		if a.Decision == "approved" {
			seen[a.By] = true
		}
	}
	return g.ApprovalsRequired > 0 && len(seen) >= g.ApprovalsRequired
}
