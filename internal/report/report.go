// Package report computes the success metrics of CONTRACT.md section 7
// (`stint report`, `GET /v1/report`) from a store: requests by outcome,
// session lengths, approval latency, unused and standing access, TTL
// recommendations, denials, approval bottlenecks, over-approval warnings and
// revocation failures, overall and per policy.
//
// The grants read are those requested in the period, so the period bounds
// the scan. Stores that implement stint.ReportStore (store/sqlite) serve it
// with paged, indexed queries; others are read through their listings.
// Memory grows with the grants of the period: percentiles come from sorted
// slices of durations (8 bytes each, kept once overall and once per policy),
// which is fine up to a few million grants.
package report

import (
	"context"
	"time"

	"github.com/stint-io/stint"
)

// DefaultSince is the length of the period when none is given.
const DefaultSince = 30 * 24 * time.Hour

// Thresholds of the figures.
const (
	// MinSessionsForTTL is the number of ended sessions a policy needs for a
	// TTL recommendation.
	MinSessionsForTTL = 5
	// TTLWasteRatio: a TTL is recommended only when it is below this share
	// of the granted TTL.
	TTLWasteRatio = 0.5
	// OverApprovalDecisions and OverApprovalRate: a policy with at least
	// that many decisions, approved at least at that rate, is flagged.
	OverApprovalDecisions = 20
	OverApprovalRate      = 0.95
	// RubberStampMedian: a policy whose median decision comes faster is
	// flagged.
	RubberStampMedian = 30 * time.Second
	// Top sizes of the lists.
	TopDenials   = 20
	TopPending   = 10
	TopApprovers = 10
)

// Service serves reports to authenticated callers.
type Service struct {
	Store stint.Store
	Clock stint.Clock
}

// Report returns the report of the period of length since (DefaultSince when
// 0) ending now, for the principal in ctx. Only humans and admins may read
// it: workloads see only their own grants, and a report aggregates everyone's.
// Returns EUNAUTHORIZED without a principal, EDENIED for a workload, EINVALID
// for a negative since, and the store's errors.
func (s *Service) Report(ctx context.Context, since time.Duration) (*stint.Report, error) {
	if err := Authorize(stint.PrincipalFromContext(ctx)); err != nil {
		return nil, err
	}
	if since < 0 {
		return nil, stint.Errorf(stint.EINVALID, "since: must not be negative")
	} else if since == 0 {
		since = DefaultSince
	}
	clock := s.Clock
	if clock == nil {
		clock = stint.SystemClock
	}
	to := clock.Now().UTC()
	return Build(ctx, s.Store, to.Add(-since), to)
}

// Authorize reports whether p may read reports: humans and admins may.
// Returns EUNAUTHORIZED for nil and EDENIED for a workload.
func Authorize(p *stint.Principal) error {
	switch {
	case p == nil:
		return stint.Errorf(stint.EUNAUTHORIZED, "not authenticated")
	case p.Kind != stint.KindHuman && !p.Admin:
		return stint.Errorf(stint.EDENIED, "only humans may read the report")
	}
	return nil
}

// Build computes the report of the grants requested in [from, to). Pending
// requests are those pending now and requested before to, whenever they were
// requested; standing access compares the first and the latest discovery of
// each resource. It checks no permission (see Authorize). Returns EINVALID
// unless from is before to, and the store's errors.
func Build(ctx context.Context, store stint.Store, from, to time.Time) (*stint.Report, error) {
	from, to = from.UTC(), to.UTC()
	if from.IsZero() || !from.Before(to) {
		return nil, stint.Errorf(stint.EINVALID, "report period: the start must be before the end")
	}
	rs := asReportStore(store)
	b := newBuilder(from, to)
	if err := rs.ReportGrants(ctx, from, to, func(g *stint.Grant, end *stint.AuditRecord) error {
		b.addGrant(g, end)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachPending(ctx, store, func(g *stint.Grant) {
		if g.RequestedAt.Before(to) {
			b.addPending(g)
		}
	}); err != nil {
		return nil, err
	}
	r := b.report()
	var err error
	if r.RevocationFailures, err = rs.CountAudit(ctx, stint.AuditGrantRevokeFailed, from, to); err != nil {
		return nil, err
	}
	base, cur, err := rs.CountStanding(ctx)
	if err != nil {
		return nil, err
	}
	r.StandingAccess = stint.StandingAccess{Baseline: base, Current: cur}
	if base > 0 {
		r.StandingAccess.Reduction = roundRatio(float64(base-cur) / float64(base))
	}
	return r, nil
}

// eachPending calls fn for every pending grant, paging through the store's
// state index.
func eachPending(ctx context.Context, store stint.Store, fn func(*stint.Grant)) error {
	f := stint.GrantFilter{State: []stint.State{stint.StatePending}, Limit: 1000}
	for {
		gs, next, err := store.ListGrants(ctx, f)
		if err != nil {
			return err
		}
		for _, g := range gs {
			fn(g)
		}
		if next == "" {
			return nil
		}
		f.Cursor = next
	}
}
