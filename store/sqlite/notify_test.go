package sqlite_test

import (
	"context"
	"path/filepath"
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
		s := MustOpenStore(t)
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
	t.Run("SurvivesReopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "stint.db")
		s := mustOpen(t, path)
		if err := s.SetNotifyCursor(ctx, &stint.NotifyCursor{Target: "a", LastSeq: 5}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = mustOpen(t, path)
		got, err := s.NotifyCursor(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSeq != 5 {
			t.Errorf("LastSeq = %d after reopen, want 5", got.LastSeq)
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
