package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

// cursorStore opens a store that must keep notification cursors.
func cursorStore(t *testing.T, open func(*testing.T) stint.Store) interface {
	stint.Store
	stint.NotifyCursorStore
} {
	t.Helper()
	s := open(t)
	cs, ok := s.(interface {
		stint.Store
		stint.NotifyCursorStore
	})
	if !ok {
		t.Fatal("store does not implement stint.NotifyCursorStore")
	}
	return cs
}

func testNotifyCursors(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	t.Run("EmptyTarget", func(t *testing.T) {
		s := cursorStore(t, open)
		if _, err := s.NotifyCursor(ctx, ""); stint.ErrorCode(err) != stint.EINVALID {
			t.Errorf("NotifyCursor err = %v, want EINVALID", err)
		}
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{}); stint.ErrorCode(err) != stint.EINVALID {
			t.Errorf("SetNotifyCursor err = %v, want EINVALID", err)
		}
	})
	t.Run("NewTargetStartsAtEnd", func(t *testing.T) {
		s := cursorStore(t, open)
		c, err := s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if c.Target != "a" || c.LastSeq != 0 {
			t.Errorf("empty trail: cursor = %+v, want a at 0", c)
		}
		appendN(t, s, 3)
		c, err = s.NotifyCursor(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if c.LastSeq != 3 {
			t.Errorf("b.LastSeq = %d, want 3 (end of the trail)", c.LastSeq)
		}
		// An existing cursor is not moved by later records.
		c, err = s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if c.LastSeq != 0 {
			t.Errorf("a.LastSeq = %d, want 0", c.LastSeq)
		}
	})
	t.Run("SetAndRead", func(t *testing.T) {
		s := cursorStore(t, open)
		next := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
		in := &stint.NotifyCursor{Target: "a", LastSeq: 7, Attempts: 2, NextAttempt: next, LastError: "status 503"}
		if err := s.SetNotifyCursor(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSeq != 7 || got.Attempts != 2 || !got.NextAttempt.Equal(next) || got.LastError != "status 503" || got.UpdatedAt.IsZero() {
			t.Errorf("cursor = %+v", got)
		}
		// Cleared retry state.
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 8}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.NotifyCursor(ctx, "a")
		if got.LastSeq != 8 || got.Attempts != 0 || !got.NextAttempt.IsZero() || got.LastError != "" {
			t.Errorf("cursor = %+v, want at 8 with no retry", got)
		}
	})
	t.Run("NeverMovesBack", func(t *testing.T) {
		s := cursorStore(t, open)
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 10}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 4, Attempts: 3}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.NotifyCursor(ctx, "a")
		if got.LastSeq != 10 || got.Attempts != 0 {
			t.Errorf("cursor = %+v, want unchanged at 10", got)
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
