package report_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/report"
)

func TestService_Report(t *testing.T) {
	s := MustOpenStore(t)
	f := &fixture{t: t, s: s}
	f.add(grant(-40*day, "ci", stint.StateActive), nil) // outside the default 30 days
	f.add(grant(-29*day, "ci", stint.StateActive), nil)
	f.add(grant(-time.Hour, "ci", stint.StateActive), nil)
	now := T
	svc := &report.Service{Store: s, Clock: clocktest.New(now)}
	human := &stint.Principal{Name: "alice", Kind: stint.KindHuman}
	tests := []struct {
		name      string
		principal *stint.Principal
		since     time.Duration
		code      string
		from      time.Time
		total     int
	}{
		{"DefaultSince", human, 0, "", now.Add(-30 * day), 2},
		{"Since", human, 2 * time.Hour, "", now.Add(-2 * time.Hour), 1},
		{"Admin", &stint.Principal{Name: "svc/admin", Kind: stint.KindWorkload, Admin: true}, day, "", now.Add(-day), 1},
		{"Workload", &stint.Principal{Name: "svc/app", Kind: stint.KindWorkload}, 0, stint.EDENIED, time.Time{}, 0},
		{"Unauthenticated", nil, 0, stint.EUNAUTHORIZED, time.Time{}, 0},
		{"NegativeSince", human, -time.Hour, stint.EINVALID, time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.principal != nil {
				ctx = stint.NewContextWithPrincipal(ctx, tt.principal)
			}
			r, err := svc.Report(ctx, tt.since)
			if code := stint.ErrorCode(err); code != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if tt.code != "" {
				return
			}
			if want := (stint.ReportPeriod{From: tt.from, To: now}); r.Period != want {
				t.Errorf("Period = %+v, want %+v", r.Period, want)
			}
			if r.Requests.Total != tt.total {
				t.Errorf("Total = %d, want %d", r.Requests.Total, tt.total)
			}
		})
	}
}

func TestReport_JSON(t *testing.T) {
	in := stint.Report{
		Bottlenecks: []stint.Bottleneck{
			{Kind: stint.BottleneckPending, PendingRequest: &stint.PendingRequest{GrantID: "g", Access: "a/b", Age: 0, Approvers: []string{}}},
			{Kind: stint.BottleneckApprover, SlowApprover: &stint.SlowApprover{Approver: "alice", Decisions: 2, P50: 1.5}},
		},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"period", "requests", "session_duration", "approval_latency", "unused_access",
		"standing_access", "ttl_recommendations", "denials", "bottlenecks", "over_approval",
		"revocation_failures", "by_policy"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	if got, want := string(keys["bottlenecks"]),
		`[{"kind":"pending","grant_id":"g","access":"a/b","policy":"","principal":"","age":0,"approvers":[]},`+
			`{"kind":"approver","approver":"alice","decisions":2,"p50":1.5}]`; got != want {
		t.Errorf("bottlenecks = %s, want %s", got, want)
	}
	var out stint.Report
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Bottlenecks, in.Bottlenecks) {
		t.Errorf("round trip: %+v", out.Bottlenecks)
	}
}
