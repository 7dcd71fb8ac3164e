package report

import (
	"context"
	"time"

	"github.com/stint-io/stint"
)

// asReportStore returns s's stint.ReportStore, or an adapter that reads
// through the Store's listings for a store without one.
func asReportStore(s stint.Store) stint.ReportStore {
	if rs, ok := s.(stint.ReportStore); ok {
		return rs
	}
	return listingStore{s}
}

// listingStore implements stint.ReportStore with the listings of any Store:
// correct, but one audit query per ended grant.
type listingStore struct{ stint.Store }

// fallbackPage is the page size of the listings.
const fallbackPage = 1000

// endTypes are the audit types that end a grant.
var endTypes = map[string]bool{
	stint.AuditGrantExpired: true, stint.AuditGrantRevoked: true, stint.AuditGrantForceClosed: true,
}

// ReportGrants pages through the grants newest first (ids sort by request
// time) until a whole page was requested before from.
func (s listingStore) ReportGrants(ctx context.Context, from, to time.Time, fn func(*stint.Grant, *stint.AuditRecord) error) error {
	f := stint.GrantFilter{Limit: fallbackPage}
	for {
		gs, next, err := s.ListGrants(ctx, f)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.RequestedAt.Before(from) || !g.RequestedAt.Before(to) {
				continue
			}
			var end *stint.AuditRecord
			if g.State == stint.StateExpired || g.State == stint.StateRevoked {
				if end, err = s.endRecord(ctx, g.ID); err != nil {
					return err
				}
			}
			if err := fn(g, end); err != nil {
				return err
			}
		}
		// Ids within one millisecond are in random order: stop only past it.
		if next == "" || len(gs) == 0 || gs[len(gs)-1].RequestedAt.Before(from.Add(-time.Millisecond)) {
			return nil
		}
		f.Cursor = next
	}
}

// endRecord returns the last audit record that ended grant id, or nil.
func (s listingStore) endRecord(ctx context.Context, id string) (*stint.AuditRecord, error) {
	var end *stint.AuditRecord
	f := stint.AuditFilter{GrantID: id, Limit: fallbackPage}
	for {
		recs, err := s.ListAudit(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if endTypes[r.Type] {
				end = r
			}
		}
		if len(recs) < fallbackPage {
			return end, nil
		}
		f.AfterSeq = recs[len(recs)-1].Seq
	}
}

// CountAudit pages through the audit trail from from; times do not decrease
// along the chain, so it stops at the first record at or after to.
func (s listingStore) CountAudit(ctx context.Context, typ string, from, to time.Time) (int, error) {
	n := 0
	f := stint.AuditFilter{Since: from, Limit: fallbackPage}
	for {
		recs, err := s.ListAudit(ctx, f)
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			if !r.Time.Before(to) {
				return n, nil
			}
			if r.Type == typ {
				n++
			}
		}
		if len(recs) < fallbackPage {
			return n, nil
		}
		f.AfterSeq = recs[len(recs)-1].Seq
	}
}

// CountStanding reads every discovery run (newest first): the first seen of
// a resource is its latest, the last seen its first. Zero for a store that
// keeps no discovery results.
func (s listingStore) CountStanding(ctx context.Context) (baseline, current int, err error) {
	ds, ok := s.Store.(stint.DiscoveryStore)
	if !ok {
		return 0, 0, nil
	}
	runs, err := ds.ListDiscoveries(ctx, "", 0)
	if err != nil {
		return 0, 0, err
	}
	latest, first := map[string]int{}, map[string]int{}
	for _, r := range runs {
		if _, ok := latest[r.Resource]; !ok {
			latest[r.Resource] = len(r.Privileges)
		}
		first[r.Resource] = len(r.Privileges)
	}
	for res := range latest {
		baseline += first[res]
		current += latest[res]
	}
	return baseline, current, nil
}
