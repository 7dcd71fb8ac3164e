package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/storetest"
)

func TestStore_CountAudit(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	base := storetest.Base
	for i, typ := range []string{stint.AuditGrantRevokeFailed, stint.AuditGrantRevokeFailed, stint.AuditGrantDenied,
		stint.AuditGrantRevokeFailed, stint.AuditGrantDenied} {
		if err := s.AppendAudit(ctx, storetest.NewRecord(base.Add(time.Duration(i)*time.Hour), typ, nil)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		typ      string
		from, to time.Time
		want     int
	}{
		{stint.AuditGrantRevokeFailed, base, base.Add(5 * time.Hour), 3},
		{stint.AuditGrantRevokeFailed, base.Add(time.Nanosecond), base.Add(3 * time.Hour), 1},
		{stint.AuditGrantDenied, base, base.Add(4 * time.Hour), 1},
		{stint.AuditGrantDenied, base, base.Add(5 * time.Hour), 2},
		{stint.AuditConfigLoaded, base, base.Add(5 * time.Hour), 0},
	}
	for _, tt := range tests {
		got, err := s.CountAudit(ctx, tt.typ, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("CountAudit(%s, %s, %s) = %d, want %d", tt.typ, tt.from, tt.to, got, tt.want)
		}
	}
}

func TestStore_ReportGrants(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	base := storetest.Base
	var gs []*stint.Grant
	for i := range 3 {
		g := storetest.NewGrant(base.Add(time.Duration(i)*time.Minute), "svc/a", "db/ro", stint.StateActive)
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	// gs[1] expires: its end record is the last of the ending kinds.
	g := gs[1]
	g.State = stint.StateExpired
	end := storetest.NewRecord(base.Add(time.Hour), stint.AuditGrantExpired, g)
	if err := s.UpdateGrant(ctx, g, end); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, storetest.NewRecord(base.Add(2*time.Hour), stint.AuditGrantReviewed, g)); err != nil {
		t.Fatal(err)
	}
	t.Run("OldestFirstWithinBounds", func(t *testing.T) {
		var got []time.Time
		err := s.ReportGrants(ctx, base, base.Add(2*time.Minute), func(g *stint.Grant, e *stint.AuditRecord) error {
			if g.ID == gs[1].ID {
				if e == nil || e.Type != stint.AuditGrantExpired || !e.Time.Equal(end.Time) || e.Details["int"] == nil {
					t.Errorf("end record of the expired grant: %+v", e)
				}
			} else if e != nil {
				t.Errorf("end record of an active grant: %+v", e)
			}
			got = append(got, g.RequestedAt)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[0].Equal(base.Truncate(time.Microsecond)) || !got[1].After(got[0]) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("StopsOnError", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := s.ReportGrants(ctx, base, base.Add(time.Hour), func(*stint.Grant, *stint.AuditRecord) error { n++; return stop })
		if err != stop || n != 1 {
			t.Errorf("err = %v after %d calls, want stop after 1", err, n)
		}
	})
}

func TestStore_CountStanding(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	if b, c, err := s.CountStanding(ctx); err != nil || b != 0 || c != 0 {
		t.Fatalf("empty: %d %d %v", b, c, err)
	}
	priv := func(n int) []stint.StandingPrivilege {
		out := make([]stint.StandingPrivilege, n)
		for i := range out {
			out[i] = stint.StandingPrivilege{Resource: "r", Principal: "p", Privilege: "x"}
		}
		return out
	}
	for _, r := range []*stint.DiscoveryRun{
		{Resource: "a", Time: storetest.Base, Privileges: priv(4)},
		{Resource: "b", Time: storetest.Base, Privileges: priv(2)},
		{Resource: "a", Time: storetest.Base.Add(time.Hour), Privileges: priv(3)},
		{Resource: "a", Time: storetest.Base.Add(2 * time.Hour), Privileges: priv(1)},
	} {
		if err := s.SaveDiscovery(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if b, c, err := s.CountStanding(ctx); err != nil || b != 6 || c != 3 {
		t.Fatalf("CountStanding = %d, %d, %v; want 6, 3", b, c, err)
	}
}
