package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func testNextDue(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	if _, ok, err := s.NextDue(ctx); err != nil || ok {
		t.Fatalf("empty store: ok %v, err %v", ok, err)
	}
	none := NewGrant(Base, "svc/a", "a/b", stint.StateExpired)
	none.DueAt = nil
	mustCreate(t, s, none)
	if _, ok, err := s.NextDue(ctx); err != nil || ok {
		t.Fatalf("nothing due: ok %v, err %v", ok, err)
	}
	var gs []*stint.Grant
	for i, d := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
		g := NewGrant(Base.Add(time.Duration(i+1)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		g.DueAt = stint.TimePtr(Base.Add(d))
		mustCreate(t, s, g)
		gs = append(gs, g)
	}
	assertNext := func(want time.Time) {
		t.Helper()
		due, ok, err := s.NextDue(ctx)
		if err != nil || !ok || !due.Equal(want) {
			t.Fatalf("NextDue = %v, %v, %v; want %v", due, ok, err, want)
		}
	}
	assertNext(Base.Add(time.Minute))
	// A claim does not hide the due time.
	if _, err := s.ClaimDue(ctx, Base.Add(time.Minute), Base.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	assertNext(Base.Add(time.Minute))
	gs[1].DueAt = nil
	if err := s.UpdateGrant(ctx, gs[1], nil); err != nil {
		t.Fatal(err)
	}
	assertNext(Base.Add(2 * time.Minute))
}

func testClaimDue(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	dues := []time.Duration{5 * time.Second, time.Second, 4 * time.Second, 2 * time.Second, time.Hour}
	var gs []*stint.Grant
	for i, d := range dues {
		g := NewGrant(Base.Add(time.Duration(i)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		g.DueAt = stint.TimePtr(Base.Add(d))
		mustCreate(t, s, g)
		gs = append(gs, g)
	}
	noDue := NewGrant(Base.Add(time.Second), "svc/a", "a/b", stint.StateExpired)
	noDue.DueAt = nil
	mustCreate(t, s, noDue)

	now := Base.Add(4 * time.Second) // gs[1], gs[3], gs[2] are due, in that order
	until := now.Add(time.Minute)
	claim := func(now, until time.Time, limit int) []*stint.Grant {
		t.Helper()
		got, err := s.ClaimDue(ctx, now, until, limit)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		return got
	}
	assertIDs := func(got []*stint.Grant, want ...*stint.Grant) {
		t.Helper()
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("claimed %v, want %v", ids(got), ids(want))
		}
	}

	first := claim(now, until, 2)
	assertIDs(first, gs[1], gs[3])
	assertGrant(t, first[0], gs[1])
	if first[0].Version != 1 {
		t.Errorf("claimed Version = %d, want 1 (a claim is not an update)", first[0].Version)
	}
	// The limit left gs[2]; the claimed ones are excluded until their claim lapses.
	assertIDs(claim(now, until, 10), gs[2])
	assertIDs(claim(now.Add(time.Second), until, 10), gs[0])
	if got := claim(until, until.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("claims lapsing at `until` are still held at `until`; claimed %v", ids(got))
	}
	// Past the lapse every due grant is claimable again, earliest first.
	later := until.Add(time.Nanosecond)
	assertIDs(claim(later, later.Add(time.Minute), 10), gs[1], gs[3], gs[2], gs[0])

	// An update clears the claim: the grant is claimable at once by anyone.
	g := first[0]
	g.Attempts++
	if err := s.UpdateGrant(ctx, g, NewRecord(later, stint.AuditGrantRevokeFailed, g)); err != nil {
		t.Fatalf("update of a claimed grant: %v", err)
	}
	assertIDs(claim(later, later.Add(time.Minute), 10), g)
	// A grant whose due time moved past now is not claimed.
	g.DueAt = stint.TimePtr(later.Add(time.Hour))
	if err := s.UpdateGrant(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	if got := claim(later.Add(2*time.Minute), later.Add(3*time.Minute), 10); len(got) != 3 {
		t.Errorf("claimed %d grants, want 3", len(got))
	}
}
