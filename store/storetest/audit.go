package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

// auditBase has nanoseconds: the hash covers them, so they must round-trip.
var auditBase = Base.Add(789 * time.Nanosecond)

func testAppendAudit(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	t.Run("Chain", func(t *testing.T) {
		s := open(t)
		g := NewGrant(Base, "svc/a", "a/b", stint.StatePending)
		created := NewRecord(auditBase, stint.AuditGrantRequested, g)
		if err := s.CreateGrant(ctx, g, created); err != nil {
			t.Fatal(err)
		}
		if created.Seq != 1 || created.PrevHash != stint.GenesisHash || created.Hash == "" {
			t.Fatalf("sealed record: seq %d prev %s hash %q", created.Seq, created.PrevHash, created.Hash)
		}
		g.State = stint.StateActive
		updated := NewRecord(auditBase.Add(time.Second), stint.AuditGrantActivated, g)
		if err := s.UpdateGrant(ctx, g, updated); err != nil {
			t.Fatal(err)
		}
		loaded := NewRecord(auditBase.Add(2*time.Second), stint.AuditConfigLoaded, nil)
		loaded.Actor, loaded.Details = stint.ActorStint, nil
		window := NewRecord(auditBase.Add(3*time.Second), stint.AuditWindowOpened, nil)
		window.Details = map[string]any{"policy": "nightly", "n": json.Number("12345678901234567890")}
		if err := s.AppendAudit(ctx, loaded, window); err != nil {
			t.Fatal(err)
		}
		want := []*stint.AuditRecord{created, updated, loaded, window}
		got := allAudit(t, s)
		VerifyChain(t, got)
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for i := range want {
			assertRecord(t, got[i], want[i])
		}
	})
	t.Run("RollbackKeepsSeq", func(t *testing.T) {
		s := open(t)
		if err := s.AppendAudit(ctx, NewRecord(auditBase, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
		// The second record cannot be encoded: the whole call fails and
		// neither record is written nor consumes a seq.
		bad := NewRecord(auditBase, stint.AuditEventReceived, nil)
		bad.Details = map[string]any{"ch": make(chan int)}
		err := s.AppendAudit(ctx, NewRecord(auditBase, stint.AuditEventReceived, nil), bad)
		if err == nil {
			t.Fatal("AppendAudit with unencodable details succeeded")
		}
		// Same for an update batch whose record cannot be encoded.
		g := NewGrant(Base, "svc/a", "a/b", stint.StateActive)
		g2 := NewGrant(Base.Add(time.Millisecond), "svc/a", "a/b", stint.StateActive)
		for _, g := range []*stint.Grant{g, g2} {
			if err := s.CreateGrant(ctx, g, nil); err != nil {
				t.Fatal(err)
			}
		}
		g.State = stint.StateRevoking
		if _, err := s.UpdateGrants(ctx, []stint.GrantUpdate{
			{Grant: g, Audit: NewRecord(auditBase, stint.AuditGrantRevoking, g)},
			{Grant: g2, Audit: bad},
		}); err == nil {
			t.Fatal("UpdateGrants with unencodable details succeeded")
		}
		if g.Version != 1 {
			t.Errorf("failed batch changed Version to %d", g.Version)
		}
		if got, _ := s.GetGrant(ctx, g.ID); got.State != stint.StateActive || got.Version != 1 {
			t.Errorf("failed batch was written: state %s version %d", got.State, got.Version)
		}
		if err := s.AppendAudit(ctx, NewRecord(auditBase, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
		recs := allAudit(t, s)
		if len(recs) != 2 {
			t.Fatalf("%d records, want 2", len(recs))
		}
		VerifyChain(t, recs)
	})
	t.Run("ZeroTime", func(t *testing.T) {
		s := open(t)
		r := NewRecord(time.Time{}, stint.AuditConfigLoaded, nil)
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Time.IsZero() {
			t.Error("a zero time was not filled in")
		}
		VerifyChain(t, allAudit(t, s))
	})
}

// assertRecord fails t unless got, read back, equals want as appended.
func assertRecord(t *testing.T, got, want *stint.AuditRecord) {
	t.Helper()
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		t.Errorf("record %d: time %v, want %v in UTC", want.Seq, got.Time, want.Time)
	}
	type cmp struct {
		Seq                                       int64
		Type, Actor, GrantID, Access, Reason, Det string
		PrevHash, Hash                            string
	}
	det := func(r *stint.AuditRecord) string {
		if len(r.Details) == 0 {
			return "{}"
		}
		b, _ := json.Marshal(r.Details)
		var v any
		json.Unmarshal(b, &v)
		b, _ = json.Marshal(v)
		return string(b)
	}
	g := cmp{got.Seq, got.Type, got.Actor, got.GrantID, got.Access, got.Reason, det(got), got.PrevHash, got.Hash}
	w := cmp{want.Seq, want.Type, want.Actor, want.GrantID, want.Access, want.Reason, det(want), want.PrevHash, want.Hash}
	if g != w {
		t.Errorf("record %d:\n got %+v\nwant %+v", want.Seq, g, w)
	}
}

func testListAudit(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	g1 := NewGrant(Base, "svc/a", "a/b", stint.StateActive)
	g2 := NewGrant(Base.Add(time.Millisecond), "svc/a", "a/b", stint.StateActive)
	mustCreate(t, s, g1) // seq 1, at Base
	mustCreate(t, s, g2) // seq 2, at Base+1ms
	for i := range 8 {   // seq 3..10, at Base+1s..+8s, alternating grants
		g := []*stint.Grant{g1, g2}[i%2]
		if err := s.AppendAudit(ctx, NewRecord(auditBase.Add(time.Duration(i+1)*time.Second), stint.AuditGrantRenewed, g)); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(lo, hi int64, step int64) []int64 {
		var out []int64
		for i := lo; i <= hi; i += step {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name string
		f    stint.AuditFilter
		want []int64
	}{
		{"All", stint.AuditFilter{}, seqs(1, 10, 1)},
		{"Limit", stint.AuditFilter{Limit: 3}, seqs(1, 3, 1)},
		{"AfterSeq", stint.AuditFilter{AfterSeq: 7}, seqs(8, 10, 1)},
		{"AfterSeqLimit", stint.AuditFilter{AfterSeq: 2, Limit: 2}, seqs(3, 4, 1)},
		{"Since", stint.AuditFilter{Since: auditBase.Add(5 * time.Second)}, seqs(7, 10, 1)},
		{"SinceExact", stint.AuditFilter{Since: Base.Add(time.Millisecond)}, seqs(2, 10, 1)},
		{"SinceFuture", stint.AuditFilter{Since: Base.Add(time.Hour)}, nil},
		{"Grant", stint.AuditFilter{GrantID: g1.ID}, []int64{1, 3, 5, 7, 9}},
		{"GrantSinceAfter", stint.AuditFilter{GrantID: g2.ID, Since: auditBase.Add(2 * time.Second), AfterSeq: 4}, []int64{6, 8, 10}},
		{"GrantLimit", stint.AuditFilter{GrantID: g2.ID, Limit: 2}, []int64{2, 4}},
		{"UnknownGrant", stint.AuditFilter{GrantID: stint.NewID(Base)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range recs {
				got = append(got, r.Seq)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("seqs = %v, want %v", got, tt.want)
			}
		})
	}
}

func testConcurrency(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				g := NewGrant(Base.Add(time.Duration(w*each+i)*time.Millisecond),
					fmt.Sprintf("svc/w%d", w), "a/b", stint.StateActive)
				if err := s.CreateGrant(ctx, g, NewRecord(auditBase, stint.AuditGrantRequested, g)); err != nil {
					errs <- err
					return
				}
				// Failures in between must not disturb the others' writes.
				dup := g.Clone()
				if err := s.CreateGrant(ctx, dup, NewRecord(auditBase, stint.AuditGrantRequested, dup)); stint.ErrorCode(err) != stint.ECONFLICT {
					errs <- fmt.Errorf("duplicate create: %v, want ECONFLICT", err)
					return
				}
				stale := g.Clone()
				g.State = stint.StateRevoking
				if err := s.UpdateGrant(ctx, g, NewRecord(auditBase, stint.AuditGrantRevoking, g)); err != nil {
					errs <- err
					return
				}
				if err := s.UpdateGrant(ctx, stale, NewRecord(auditBase, stint.AuditGrantRevoking, stale)); stint.ErrorCode(err) != stint.ECONFLICT {
					errs <- fmt.Errorf("stale update: %v, want ECONFLICT", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := allAudit(t, s)
	if len(recs) != 2*workers*each {
		t.Fatalf("%d records, want %d", len(recs), 2*workers*each)
	}
	VerifyChain(t, recs)
	gs, _, err := s.ListGrants(ctx, stint.GrantFilter{State: []stint.State{stint.StateRevoking}, Limit: 1000})
	if err != nil || len(gs) != workers*each {
		t.Fatalf("ListGrants: %d grants, %v; want %d", len(gs), err, workers*each)
	}
}
