package report_test

import (
	"context"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/report"
)

// A request fully approved, waiting for its requester to collect the
// credential, is still `pending`: the report blames the approvers for it.
func TestReview_ApprovedUncollectedIsNotABottleneck(t *testing.T) {
	s := MustOpenStore(t)
	f := &fixture{t, s}
	g := decide(grant(time.Hour, "prod", stint.StatePending), "carol", "approved", time.Minute)
	g.ApprovalsRequired = 1
	g.Approvers = []string{"carol"}
	f.add(g, nil)
	r, err := report.Build(context.Background(), s, T, T.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	if r.ApprovalLatency.OldestPending != 0 || len(r.Bottlenecks) > 0 && r.Bottlenecks[0].Kind == stint.BottleneckPending {
		t.Fatalf("approved request counted as waiting for approval: oldest_pending=%v bottlenecks=%s",
			r.ApprovalLatency.OldestPending, mustJSON(t, r.Bottlenecks))
	}
}
