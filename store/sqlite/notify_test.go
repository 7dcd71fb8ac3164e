package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stint-io/stint"
)

// The conformance suite (storetest) covers cursors; this checks the file.
func TestStore_NotifyCursor(t *testing.T) {
	ctx := context.Background()
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
