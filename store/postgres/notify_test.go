package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func TestStore_NotifyCursor(t *testing.T) {
	ctx := context.Background()
	t.Run("EmptyTarget", func(t *testing.T) {
		s := MustOpenStore(t)
		if _, err := s.NotifyCursor(ctx, ""); stint.ErrorCode(err) != stint.EINVALID {
			t.Errorf("NotifyCursor err = %v, want EINVALID", err)
		}
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{}); stint.ErrorCode(err) != stint.EINVALID {
			t.Errorf("SetNotifyCursor err = %v, want EINVALID", err)
		}
	})
	t.Run("NewTargetStartsAtEnd", func(t *testing.T) {
		s := MustOpenStore(t)
		c, err := s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if c.Target != "a" || c.LastSeq != 0 {
			t.Errorf("empty trail: cursor = %+v, want a at 0", c)
		}
		appendN(t, s, 3)
		if c, err = s.NotifyCursor(ctx, "b"); err != nil || c.LastSeq != 3 {
			t.Errorf("b = %+v, %v; want at 3 (end of the trail)", c, err)
		}
		if c, err = s.NotifyCursor(ctx, "a"); err != nil || c.LastSeq != 0 {
			t.Errorf("a = %+v, %v; want still at 0", c, err)
		}
	})
	t.Run("SetAndRead", func(t *testing.T) {
		s := MustOpenStore(t)
		next := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
		in := &stint.NotifyCursor{Target: "a", LastSeq: 7, Attempts: 2, NextAttempt: next, LastError: "status 503"}
		if err := s.SetNotifyCursor(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSeq != 7 || got.Attempts != 2 || !got.NextAttempt.Equal(next) || got.LastError != "status 503" ||
			!got.UpdatedAt.Equal(in.UpdatedAt) || got.UpdatedAt.IsZero() {
			t.Errorf("cursor = %+v, set %+v", got, in)
		}
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 8}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.NotifyCursor(ctx, "a")
		if got.LastSeq != 8 || got.Attempts != 0 || !got.NextAttempt.IsZero() || got.LastError != "" {
			t.Errorf("cursor = %+v, want at 8 with no retry", got)
		}
	})
	t.Run("NeverMovesBack", func(t *testing.T) {
		s := MustOpenStore(t)
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 10}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 4, Attempts: 3}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.NotifyCursor(ctx, "a"); got.LastSeq != 10 || got.Attempts != 0 {
			t.Errorf("cursor = %+v, want unchanged at 10", got)
		}
	})
	t.Run("ReplicasCreateOne", func(t *testing.T) {
		dsn := newDatabase(t)
		a, b := mustOpen(t, dsn), mustOpen(t, dsn)
		appendN(t, a, 2)
		var wg sync.WaitGroup
		got := make([]*stint.NotifyCursor, 2)
		errs := make([]error, 2)
		for i, s := range []interface {
			NotifyCursor(context.Context, string) (*stint.NotifyCursor, error)
		}{a, b} {
			wg.Go(func() { got[i], errs[i] = s.NotifyCursor(ctx, "t") })
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i].LastSeq != 2 {
				t.Errorf("replica %d: %+v, %v; want at 2", i, got[i], errs[i])
			}
		}
	})
}

func appendN(t *testing.T, s stint.Store, n int) {
	t.Helper()
	for range n {
		if err := s.AppendAudit(context.Background(), &stint.AuditRecord{Type: stint.AuditConfigLoaded, Actor: stint.ActorStint}); err != nil {
			t.Fatal(err)
		}
	}
}
