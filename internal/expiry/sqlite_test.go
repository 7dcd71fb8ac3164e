package expiry_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/expiry"
	"github.com/stint-io/stint/store/sqlite"
)

// MustOpenSQLite opens a SQLite store in a temporary directory.
func MustOpenSQLite(tb testing.TB, clock stint.Clock) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "stint.db"), clock, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestEngine_Run_SQLite runs the engine over the real SQLite store: a
// catch-up of grants that fell due while it was down, then a grant in the
// future, on one timer.
func TestEngine_Run_SQLite(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	clock := clocktest.New(start)
	s := MustOpenSQLite(t, clock)
	for i := 0; i < n; i++ {
		g := newGrant(start.Add(-time.Duration(i) * time.Second))
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	later := newGrant(start.Add(10 * time.Minute))
	if err := s.CreateGrant(ctx, later, nil); err != nil {
		t.Fatal(err)
	}
	h := newExpirer(s, clock)
	m := newRecorder()
	e := expiry.NewEngine(s, h, clock, nil)
	e.Metrics, e.BatchSize, e.MaxSleep = m, 100, time.Hour
	run(t, e)

	seen := map[string]bool{}
	for len(seen) < n {
		seen[waitCall(t, h.calls)] = true
	}
	m.wait(t, n)
	waitDeadline(t, clock, start.Add(10*time.Minute))
	if n := clock.Timers(); n != 1 {
		t.Fatalf("Timers = %d, want 1", n)
	}
	if seen[later.ID] {
		t.Fatal("the later grant was handled early")
	}
	clock.Add(10 * time.Minute)
	if id := waitCall(t, h.calls); id != later.ID {
		t.Fatalf("handled %s, want %s", id, later.ID)
	}
	m.wait(t, 1)
	waitDeadline(t, clock, start.Add(10*time.Minute+time.Hour))

	active, err := s.CountActive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 0 {
		t.Errorf("active grants left: %v", active)
	}
	res, err := audit.Verify(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != n+1 {
		t.Errorf("audit: %+v", res)
	}
}

func TestReconciler_RunOnce_SQLite(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(start)
	s := MustOpenSQLite(t, clock)
	live, ended := newGrant(start.Add(time.Hour)), newGrant(start)
	ended.State, ended.DueAt = stint.StateRevoked, nil
	for _, g := range []*stint.Grant{live, ended} {
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	orphan := stint.NewID(start)
	p := newListerProvider(live.ID, ended.ID, orphan)
	r := expiry.NewReconciler(s, func() map[string]stint.Provider { return map[string]stint.Provider{"db": p} }, clock, nil)
	if err := r.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if !p.has(live.ID) || p.has(ended.ID) || p.has(orphan) {
		t.Fatalf("artefacts left: live %v, ended %v, orphan %v", p.has(live.ID), p.has(ended.ID), p.has(orphan))
	}
	recs, err := s.ListAudit(ctx, stint.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs {
		if r.Type == stint.AuditOrphanRemoved {
			got[r.GrantID] = r.Reason
		}
	}
	if len(got) != 2 || got[orphan] != "no grant" || got[ended.ID] != "grant revoked" {
		t.Errorf("orphan.removed records: %v", got)
	}
}
