package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/storetest"
)

// A period starting before 1970 (stint report --since 36500d, "everything")
// finds no grant at all: idBound wraps a negative millisecond count.
func TestReview_ReportGrantsLongPeriod(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	base := storetest.Base
	g := storetest.NewGrant(base, "svc/a", "db/ro", stint.StateActive)
	if err := s.CreateGrant(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	for _, since := range []time.Duration{30 * 24 * time.Hour, 36500 * 24 * time.Hour} {
		n := 0
		to := base.Add(time.Hour)
		if err := s.ReportGrants(ctx, to.Add(-since), to, func(*stint.Grant, *stint.AuditRecord) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("since %s (from %s): %d grants, want 1", since, to.Add(-since).Format(time.DateOnly), n)
		}
	}
}
