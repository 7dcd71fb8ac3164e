package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stint-io/stint"
)

// The conformance suite (storetest) covers cursors; this checks replicas.
func TestStore_NotifyCursor(t *testing.T) {
	ctx := context.Background()
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
