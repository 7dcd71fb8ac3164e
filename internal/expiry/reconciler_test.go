package expiry_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/expiry"
)

// listerProvider is a provider that lists its artefacts by grant id.
type listerProvider struct {
	mu        sync.Mutex
	artefacts map[string]bool
	listErr   error
	removeErr error
	removed   chan string
}

func newListerProvider(ids ...string) *listerProvider {
	p := &listerProvider{artefacts: map[string]bool{}, removed: make(chan string, 100)}
	for _, id := range ids {
		p.artefacts[id] = true
	}
	return p
}

func (p *listerProvider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	return nil, errors.New("not used")
}

func (p *listerProvider) Revoke(ctx context.Context, g *stint.Grant) error { return nil }

func (p *listerProvider) List(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listErr != nil {
		return nil, p.listErr
	}
	return slices.Sorted(func(yield func(string) bool) {
		for id := range p.artefacts {
			if !yield(id) {
				return
			}
		}
	}), nil
}

func (p *listerProvider) RemoveOrphan(ctx context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removeErr != nil {
		return p.removeErr
	}
	delete(p.artefacts, id)
	p.removed <- id
	return nil
}

func (p *listerProvider) has(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.artefacts[id]
}

func (p *listerProvider) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.artefacts[id] = true
}

// plainProvider does not implement stint.Lister.
type plainProvider struct{}

func (plainProvider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	return nil, errors.New("not used")
}
func (plainProvider) Revoke(ctx context.Context, g *stint.Grant) error { return nil }

// grantIn stores a grant in state st and returns its id.
func grantIn(s *memStore, st stint.State) string {
	g := newGrant(start)
	g.State = st
	if st.Terminal() || st == stint.StatePending {
		g.DueAt = nil
	}
	s.put(g)
	return g.ID
}

func auditTypes(s *memStore) map[string]*stint.AuditRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]*stint.AuditRecord{}
	for _, r := range s.audit {
		if r.Type == stint.AuditOrphanRemoved {
			m[r.GrantID] = r
		}
	}
	return m
}

func TestReconciler_RunOnce(t *testing.T) {
	ctx := context.Background()
	s := newMemStore()
	orphan := stint.NewID(start)
	remove := map[string]string{orphan: "no grant"} // id → audit reason
	var keep []string
	for _, st := range stint.States {
		id := grantIn(s, st)
		if st.Terminal() {
			remove[id] = "grant " + string(st)
		} else {
			keep = append(keep, id)
		}
	}
	ids := []string{"not-a-grant-id"}
	for id := range remove {
		ids = append(ids, id)
	}
	ids = append(ids, keep...)
	p := newListerProvider(ids...)
	other := newListerProvider(orphan)
	r := expiry.NewReconciler(s, func() map[string]stint.Provider {
		return map[string]stint.Provider{"db": p, "db2": other, "plain": plainProvider{}}
	}, clocktest.New(start), nil)

	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for id := range remove {
		if p.has(id) {
			t.Errorf("artefact %s not removed", id)
		}
	}
	if p.has("not-a-grant-id") {
		t.Error("artefact in the reserved namespace that no grant can own was not removed")
	}
	for _, id := range keep {
		if !p.has(id) {
			t.Errorf("artefact %s of a live grant removed", id)
		}
	}
	if other.has(orphan) {
		t.Error("second provider's orphan not removed")
	}

	recs := auditTypes(s)
	if len(recs) != len(remove)+1 {
		t.Errorf("%d orphan.removed records, want %d", len(recs), len(remove)+1)
	}
	for id, reason := range remove {
		rec := recs[id]
		switch {
		case rec == nil:
			t.Errorf("no orphan.removed record for %s", id)
		case rec.Reason != reason || rec.Actor != stint.ActorStint || !rec.Time.Equal(start):
			t.Errorf("record for %s: %+v, want reason %q", id, rec, reason)
		case id != orphan && rec.Access != "db/read":
			t.Errorf("record for %s: access %q", id, rec.Access)
		}
	}

	// A second sweep finds nothing more to do.
	before := len(s.audit)
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(s.audit) != before {
		t.Errorf("second sweep appended %d records", len(s.audit)-before)
	}
}

func TestReconciler_RunOnce_Errors(t *testing.T) {
	tests := []struct {
		name      string
		listErr   error
		removeErr error
	}{
		{"ListFails", errors.New("target down"), nil},
		{"RemoveFails", nil, errors.New("permission denied")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			bad := newListerProvider(stint.NewID(start))
			bad.listErr, bad.removeErr = tt.listErr, tt.removeErr
			orphan := stint.NewID(start)
			good := newListerProvider(orphan)
			r := expiry.NewReconciler(s, func() map[string]stint.Provider {
				return map[string]stint.Provider{"a-bad": bad, "b-good": good}
			}, clocktest.New(start), nil)
			err := r.RunOnce(context.Background())
			if stint.ErrorCode(err) != stint.EUNAVAILABLE {
				t.Fatalf("err = %v, want EUNAVAILABLE", err)
			}
			if good.has(orphan) {
				t.Error("the failure stopped the sweep of the next provider")
			}
			if recs := auditTypes(s); len(recs) != 1 || recs[orphan] == nil {
				t.Errorf("audit: %v, want one record for the good provider's orphan", recs)
			}
		})
	}
}

func TestReconciler_Run(t *testing.T) {
	clock := clocktest.New(start)
	s := newMemStore()
	first, second := stint.NewID(start), stint.NewID(start)
	p := newListerProvider(first)
	r := expiry.NewReconciler(s, func() map[string]stint.Provider {
		return map[string]stint.Provider{"db": p}
	}, clock, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	if id := <-p.removed; id != first {
		t.Fatalf("removed %s at start, want %s", id, first)
	}
	waitDeadline(t, clock, start.Add(expiry.DefaultReconcileInterval))
	p.add(second)
	clock.Add(expiry.DefaultReconcileInterval)
	select {
	case id := <-p.removed:
		if id != second {
			t.Fatalf("removed %s, want %s", id, second)
		}
	case <-time.After(guard):
		t.Fatal("no second sweep")
	}
	waitDeadline(t, clock, start.Add(2*expiry.DefaultReconcileInterval))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(guard):
		t.Fatal("Run did not return")
	}
}
