package expiry_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/stint-io/stint"
)

// memStore is an in-memory stint.Store for the engine's tests. It keeps the
// claim semantics of ClaimDue and the compare-and-set of UpdateGrants.
type memStore struct {
	mu     sync.Mutex
	grants map[string]*stint.Grant
	claims map[string]time.Time
	audit  []*stint.AuditRecord

	claimErrs  int // ClaimDue fails this many more times
	claimCalls int
	maxClaim   int // largest limit seen by ClaimDue
}

var _ stint.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{grants: map[string]*stint.Grant{}, claims: map[string]time.Time{}}
}

// put inserts or replaces g as is.
func (s *memStore) put(g *stint.Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g = g.Clone()
	if g.Version == 0 {
		g.Version = 1
	}
	s.grants[g.ID] = g
}

func (s *memStore) get(id string) *stint.Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.grants[id]; ok {
		return g.Clone()
	}
	return nil
}

func (s *memStore) failClaims(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimErrs = n
}

func (s *memStore) appendLocked(recs ...*stint.AuditRecord) error {
	for _, r := range recs {
		if r == nil {
			continue
		}
		prevSeq, prevHash := int64(0), stint.GenesisHash
		if n := len(s.audit); n > 0 {
			prevSeq, prevHash = s.audit[n-1].Seq, s.audit[n-1].Hash
		}
		c := *r
		if err := c.Seal(prevSeq, prevHash); err != nil {
			return err
		}
		s.audit = append(s.audit, &c)
	}
	return nil
}

func (s *memStore) CreateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grants[g.ID]; ok {
		return stint.Errorf(stint.ECONFLICT, "grant %s exists", g.ID)
	}
	g.Version = 1
	s.grants[g.ID] = g.Clone()
	return s.appendLocked(rec)
}

func (s *memStore) UpdateGrants(ctx context.Context, updates []stint.GrantUpdate) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(updates))
	for i, u := range updates {
		cur, ok := s.grants[u.Grant.ID]
		switch {
		case !ok:
			errs[i] = stint.Errorf(stint.ENOTFOUND, "grant not found")
		case cur.Version != u.Grant.Version:
			errs[i] = stint.Errorf(stint.ECONFLICT, "grant changed")
		default:
			u.Grant.Version++
			s.grants[u.Grant.ID] = u.Grant.Clone()
			delete(s.claims, u.Grant.ID)
			if err := s.appendLocked(u.Audit); err != nil {
				return nil, err
			}
		}
	}
	return errs, nil
}

func (s *memStore) UpdateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	errs, err := s.UpdateGrants(ctx, []stint.GrantUpdate{{Grant: g, Audit: rec}})
	if err != nil {
		return err
	}
	return errs[0]
}

func (s *memStore) GetGrant(ctx context.Context, id string) (*stint.Grant, error) {
	if g := s.get(id); g != nil {
		return g, nil
	}
	return nil, stint.Errorf(stint.ENOTFOUND, "grant not found")
}

func (s *memStore) ListGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stint.Grant
	for _, g := range s.grants {
		if len(f.State) == 0 || slices.Contains(f.State, g.State) {
			out = append(out, g.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *stint.Grant) int { return -a.RequestedAt.Compare(b.RequestedAt) })
	return out, "", nil
}

func (s *memStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	ok := false
	for _, g := range s.grants {
		if g.DueAt != nil && (!ok || g.DueAt.Before(next)) {
			next, ok = *g.DueAt, true
		}
	}
	return next, ok, nil
}

func (s *memStore) ClaimDue(ctx context.Context, now, until time.Time, limit int) ([]*stint.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimCalls++
	s.maxClaim = max(s.maxClaim, limit)
	if s.claimErrs > 0 {
		s.claimErrs--
		return nil, stint.Errorf(stint.EUNAVAILABLE, "store down")
	}
	var due []*stint.Grant
	for id, g := range s.grants {
		if g.DueAt == nil || g.DueAt.After(now) {
			continue
		}
		if c, ok := s.claims[id]; ok && !c.Before(now) {
			continue
		}
		due = append(due, g)
	}
	slices.SortFunc(due, func(a, b *stint.Grant) int { return a.DueAt.Compare(*b.DueAt) })
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]*stint.Grant, len(due))
	for i, g := range due {
		s.claims[g.ID] = until
		out[i] = g.Clone()
	}
	return out, nil
}

func (s *memStore) CountActive(ctx context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, g := range s.grants {
		if g.State == stint.StateActive {
			m[g.Access]++
		}
	}
	return m, nil
}

func (s *memStore) AppendAudit(ctx context.Context, recs ...*stint.AuditRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(recs...)
}

func (s *memStore) ListAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stint.AuditRecord
	for _, r := range s.audit {
		if r.Seq > f.AfterSeq && (f.GrantID == "" || r.GrantID == f.GrantID) {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *memStore) Close() error { return nil }
