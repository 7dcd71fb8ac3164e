package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
	"github.com/stint-io/stint/store/storetest"
)

// TestReplicas_AuditChain has two stores (two replicas) on one database
// append concurrently, through every kind of write; the trail must be one
// intact chain.
func TestReplicas_AuditChain(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	replicas := []stint.Store{mustOpen(t, dsn), mustOpen(t, dsn)}
	const workers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for r, s := range replicas {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					at := storetest.Base.Add(time.Duration((r*workers+w)*each+i) * time.Millisecond)
					g := storetest.NewGrant(at, fmt.Sprintf("svc/r%dw%d", r, w), "a/b", stint.StateActive)
					if err := s.CreateGrant(ctx, g, storetest.NewRecord(at, stint.AuditGrantRequested, g)); err != nil {
						errs <- err
						return
					}
					g.State = stint.StateRevoking
					if err := s.UpdateGrant(ctx, g, storetest.NewRecord(at, stint.AuditGrantRevoking, g)); err != nil {
						errs <- err
						return
					}
					if err := s.AppendAudit(ctx, storetest.NewRecord(time.Time{}, stint.AuditConfigLoaded, nil),
						storetest.NewRecord(time.Time{}, stint.AuditWindowOpened, nil)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, s := range replicas {
		res, err := audit.Verify(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(2 * workers * each * 4); !res.OK || res.Records != want || res.LastSeq != want {
			t.Fatalf("replica %d: verify = %+v, want OK with %d records", i, res, want)
		}
	}
}

// TestReplicas_ClaimDue has two stores on one database claim due grants
// concurrently, in small batches: every grant is claimed exactly once.
func TestReplicas_ClaimDue(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	replicas := []stint.Store{mustOpen(t, dsn), mustOpen(t, dsn)}
	const n = 120
	for i := range n {
		g := storetest.NewGrant(storetest.Base.Add(time.Duration(i)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		g.DueAt = stint.TimePtr(storetest.Base.Add(time.Duration(i%7) * time.Second))
		if err := replicas[0].CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := storetest.Base.Add(time.Minute)
	until := now.Add(time.Minute)
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, s := range replicas {
		for range 3 { // several workers per replica
			wg.Go(func() {
				for {
					gs, err := s.ClaimDue(ctx, now, until, 5)
					if err != nil {
						errs <- err
						return
					}
					if len(gs) == 0 {
						return
					}
					mu.Lock()
					for _, g := range gs {
						claimed[g.ID]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != n {
		t.Errorf("%d grants claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("grant %s claimed %d times", id, c)
		}
	}
}

// TestReplicas_UpdateConflict has two replicas update the same grant from
// the same version: exactly one wins, the other gets ECONFLICT.
func TestReplicas_UpdateConflict(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	for i := range 20 {
		g := storetest.NewGrant(storetest.Base.Add(time.Duration(i)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		if err := a.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		ga, gb := g.Clone(), g.Clone()
		ga.State, gb.State = stint.StateRevoking, stint.StateExpired
		var ea, eb error
		var wg sync.WaitGroup
		wg.Go(func() { ea = a.UpdateGrant(ctx, ga, storetest.NewRecord(time.Time{}, stint.AuditGrantRevoking, ga)) })
		wg.Go(func() { eb = b.UpdateGrant(ctx, gb, storetest.NewRecord(time.Time{}, stint.AuditGrantExpired, gb)) })
		wg.Wait()
		if (ea == nil) == (eb == nil) {
			t.Fatalf("grant %d: errors %v and %v, want exactly one ECONFLICT", i, ea, eb)
		}
		loser := ea
		if loser == nil {
			loser = eb
		}
		if stint.ErrorCode(loser) != stint.ECONFLICT {
			t.Fatalf("loser: %v, want ECONFLICT", loser)
		}
	}
	res, err := audit.Verify(ctx, a)
	if err != nil || !res.OK || res.Records != 20 {
		t.Fatalf("verify = %+v, %v; want OK with 20 records", res, err)
	}
}
