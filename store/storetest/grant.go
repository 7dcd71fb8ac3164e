package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func testCreateGrant(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		want := NewGrant(Base, "svc/a", "prod-db/readonly", stint.StateActive)
		want.EndedAt = stint.TimePtr(Base.Add(time.Hour))
		// A non-UTC location must come back as the same instant in UTC.
		loc := time.FixedZone("X", 5*3600+1800)
		want.RequestedAt = want.RequestedAt.In(loc)
		in := want.Clone()
		mustCreate(t, s, in)
		if in.Version != 1 {
			t.Errorf("Version after create = %d, want 1", in.Version)
		}
		got, err := s.GetGrant(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertGrant(t, got, want)
		if got.Version != 1 {
			t.Errorf("stored Version = %d, want 1", got.Version)
		}
	})
	t.Run("Minimal", func(t *testing.T) {
		s := open(t)
		want := &stint.Grant{ID: stint.NewID(Base), Principal: "svc/a", Access: "a/b",
			State: stint.StateDenied, RequestedAt: Base}
		if err := s.CreateGrant(ctx, want.Clone(), nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetGrant(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertGrant(t, got, want)
		if recs := allAudit(t, s); len(recs) != 0 {
			t.Errorf("a create without a record appended %d records", len(recs))
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		s := open(t)
		g := NewGrant(Base, "svc/a", "a/b", stint.StatePending)
		mustCreate(t, s, g)
		dup := NewGrant(Base, "svc/other", "c/d", stint.StateActive)
		dup.ID = g.ID
		err := s.CreateGrant(ctx, dup, NewRecord(Base, stint.AuditGrantRequested, dup))
		assertCode(t, err, stint.ECONFLICT)
		got, err := s.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertGrant(t, got, g)
		// The failed create's record is not written and consumes no seq.
		if err := s.AppendAudit(ctx, NewRecord(Base, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
		recs := allAudit(t, s)
		if len(recs) != 2 {
			t.Fatalf("%d records, want 2", len(recs))
		}
		VerifyChain(t, recs)
	})
}

func testGetGrant(t *testing.T, open func(*testing.T) stint.Store) {
	s := open(t)
	_, err := s.GetGrant(context.Background(), stint.NewID(Base))
	assertCode(t, err, stint.ENOTFOUND)
}

func testUpdateGrant(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	t.Run("Write", func(t *testing.T) {
		s := open(t)
		g := NewGrant(Base, "svc/a", "a/b", stint.StateActive)
		mustCreate(t, s, g)
		g.State, g.EndState, g.Detail = stint.StateRevoking, stint.StateRevoked, "revoked by alice"
		g.EndedAt, g.DueAt, g.Window, g.Approvals, g.ProviderData = stint.TimePtr(Base.Add(time.Minute)), nil, nil, nil, nil
		g.Attempts++
		if err := s.UpdateGrant(ctx, g, NewRecord(Base, stint.AuditGrantRevoking, g)); err != nil {
			t.Fatal(err)
		}
		if g.Version != 2 {
			t.Errorf("Version = %d, want 2", g.Version)
		}
		got, err := s.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertGrant(t, got, g)
		if got.Version != 2 {
			t.Errorf("stored Version = %d, want 2", got.Version)
		}
		VerifyChain(t, allAudit(t, s))
	})
	t.Run("Stale", func(t *testing.T) {
		s := open(t)
		g := NewGrant(Base, "svc/a", "a/b", stint.StateActive)
		mustCreate(t, s, g)
		stale := g.Clone()
		g.Detail = "first"
		if err := s.UpdateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		stale.Detail = "second"
		err := s.UpdateGrant(ctx, stale, NewRecord(Base, stint.AuditGrantRevoking, stale))
		assertCode(t, err, stint.ECONFLICT)
		if stale.Version != 1 {
			t.Errorf("skipped update changed Version to %d", stale.Version)
		}
		got, _ := s.GetGrant(ctx, g.ID)
		if got.Detail != "first" || got.Version != 2 {
			t.Errorf("got detail %q version %d, want first, 2", got.Detail, got.Version)
		}
		if n := len(allAudit(t, s)); n != 1 {
			t.Errorf("%d records, want 1 (the skipped update's is not written)", n)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		g := NewGrant(Base, "svc/a", "a/b", stint.StateActive)
		g.Version = 1
		assertCode(t, s.UpdateGrant(ctx, g, nil), stint.ENOTFOUND)
	})
}

func testUpdateGrants(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	var gs []*stint.Grant
	for i := range 4 {
		g := NewGrant(Base.Add(time.Duration(i)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		mustCreate(t, s, g)
		gs = append(gs, g)
	}
	// gs[1] changes behind the batch's back; gs[3] is not in the store.
	other := gs[1].Clone()
	other.Detail = "changed"
	if err := s.UpdateGrant(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	missing := NewGrant(Base.Add(time.Hour), "svc/a", "a/b", stint.StateActive)
	missing.Version = 1
	var updates []stint.GrantUpdate
	for _, g := range []*stint.Grant{gs[0], gs[1], missing, gs[2]} {
		g.State = stint.StateRevoking
		updates = append(updates, stint.GrantUpdate{Grant: g, Audit: NewRecord(Base, stint.AuditGrantRevoking, g)})
	}
	errs, err := s.UpdateGrants(ctx, updates)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 4 {
		t.Fatalf("%d errors, want 4", len(errs))
	}
	for i, want := range []string{"", stint.ECONFLICT, stint.ENOTFOUND, ""} {
		if got := stint.ErrorCode(errs[i]); got != want {
			t.Errorf("errs[%d] = %v, want code %q", i, errs[i], want)
		}
	}
	for i, want := range []int64{2, 1, 1, 2} {
		if got := updates[i].Grant.Version; got != want {
			t.Errorf("update %d: Version = %d, want %d", i, got, want)
		}
	}
	for _, g := range []*stint.Grant{gs[0], gs[2]} {
		got, err := s.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertGrant(t, got, g)
	}
	if got, _ := s.GetGrant(ctx, gs[1].ID); got.State != stint.StateActive || got.Detail != "changed" {
		t.Errorf("conflicting update was written: %+v", got)
	}
	recs := allAudit(t, s)
	if len(recs) != 6 { // 4 creates + 2 written updates
		t.Fatalf("%d records, want 6", len(recs))
	}
	VerifyChain(t, recs)
	if recs[4].GrantID != gs[0].ID || recs[5].GrantID != gs[2].ID {
		t.Errorf("records of the batch are for %s, %s; want %s, %s", recs[4].GrantID, recs[5].GrantID, gs[0].ID, gs[2].ID)
	}

	t.Run("Empty", func(t *testing.T) {
		errs, err := s.UpdateGrants(ctx, nil)
		if err != nil || len(errs) != 0 {
			t.Fatalf("UpdateGrants(nil) = %v, %v", errs, err)
		}
	})
}

func testCountActive(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	if m, err := s.CountActive(ctx); err != nil || len(m) != 0 {
		t.Fatalf("empty store: %v, %v", m, err)
	}
	at := Base
	for _, c := range []struct {
		access string
		state  stint.State
	}{
		{"a/r", stint.StateActive}, {"a/r", stint.StateActive}, {"a/r", stint.StateExpired},
		{"b/r", stint.StateActive}, {"c/r", stint.StatePending}, {"c/r", stint.StateRevoking},
	} {
		at = at.Add(time.Millisecond)
		mustCreate(t, s, NewGrant(at, "svc/a", c.access, c.state))
	}
	m, err := s.CountActive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["a/r"] != 2 || m["b/r"] != 1 {
		t.Errorf("CountActive = %v, want map[a/r:2 b/r:1]", m)
	}
}
