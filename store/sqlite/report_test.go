package sqlite_test

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
	for i := range 3 {
		g := storetest.NewGrant(base.Add(time.Duration(i)*time.Minute), "svc/a", "db/ro", stint.StateActive)
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("OldestFirstWithinBounds", func(t *testing.T) {
		var got []time.Time
		err := s.ReportGrants(ctx, base, base.Add(2*time.Minute), func(g *stint.Grant, end *stint.AuditRecord) error {
			if end != nil {
				t.Errorf("end record of an active grant: %+v", end)
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
