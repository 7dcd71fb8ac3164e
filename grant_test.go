package stint_test

import (
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func TestState_CanTransition(t *testing.T) {
	allowed := map[stint.State][]stint.State{
		stint.StatePending:   {stint.StateIssuing, stint.StateRejected, stint.StateCancelled, stint.StateScheduled},
		stint.StateScheduled: {stint.StateIssuing, stint.StateCancelled},
		stint.StateIssuing:   {stint.StateActive, stint.StateFailed, stint.StateRevoking},
		stint.StateActive:    {stint.StateRevoking},
		stint.StateRevoking:  {stint.StateExpired, stint.StateRevoked},
	}
	for _, from := range stint.States {
		for _, to := range stint.States {
			want := false
			for _, a := range allowed[from] {
				want = want || a == to
			}
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s → %s: %v, want %v", from, to, got, want)
			}
		}
		if got, want := from.Terminal(), len(allowed[from]) == 0; got != want {
			t.Errorf("%s terminal: %v", from, got)
		}
	}
	// The invariants that matter most, spelled out.
	if stint.StateRevoking.CanTransition(stint.StateActive) {
		t.Error("a revoking grant must never become active again")
	}
	if stint.StateActive.CanTransition(stint.StateRevoked) || stint.StateActive.CanTransition(stint.StateExpired) {
		t.Error("an active grant must pass through revoking")
	}
	if stint.State("bogus").Valid() || stint.State("bogus").Terminal() {
		t.Error("unknown state accepted")
	}
}

func TestSplitAccess(t *testing.T) {
	for _, tc := range []struct{ in, res, role string }{
		{"prod-db/readonly", "prod-db", "readonly"},
		{"prod-db", "", ""},
		{"/readonly", "", ""},
		{"prod-db/", "", ""},
		{"a/b/c", "", ""},
		{"", "", ""},
	} {
		if r, role := stint.SplitAccess(tc.in); r != tc.res || role != tc.role {
			t.Errorf("SplitAccess(%q) = %q, %q", tc.in, r, role)
		}
	}
}

func TestNewID(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := stint.NewID(now), stint.NewID(now.Add(time.Millisecond))
	if !stint.ValidID(a) || !stint.ValidID(b) || a == b || a >= b {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, bad := range []string{"", "x", "06H43S2Y9FSDQEGMYY3DVFH7DM", "06h43s2y9fsdqegmyy3dvfh7d!", "06h43s2y9fsdqegmyy3dvfh7dmm"} {
		if stint.ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"15m", 15 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{" 2h ", 2 * time.Hour, true},
		{"-5m", 0, false},
		{"1d-5m", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"d", 0, false},
		{"99999999d", 0, false},
	} {
		got, err := stint.ParseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
	for d, want := range map[time.Duration]string{15 * time.Minute: "15m", 2 * time.Hour: "2h", 7 * 24 * time.Hour: "7d",
		26 * time.Hour: "1d2h", 90 * time.Second: "1m30s", 0: "0s"} {
		if got := stint.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAuditRecord_Seal(t *testing.T) {
	r := &stint.AuditRecord{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Type: "grant.requested",
		Actor: "svc/app", GrantID: "g", Access: "db/ro", Reason: "why", Details: map[string]any{"b": 1, "a": []string{"x"}}}
	if err := r.Seal(0, stint.GenesisHash); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 || r.PrevHash != stint.GenesisHash || len(r.Hash) != 64 || r.Time.Location() != time.UTC {
		t.Fatalf("sealed %+v", r)
	}
	c, _ := r.CanonicalJSON()
	want := `{"access":"db/ro","actor":"svc/app","details":{"a":["x"],"b":1},"grant_id":"g","prev_hash":"` + stint.GenesisHash +
		`","reason":"why","seq":1,"time":"2026-01-02T02:04:05.000000006Z","type":"grant.requested"}`
	if string(c) != want {
		t.Fatalf("canonical\n%s\nwant\n%s", c, want)
	}
	h := r.Hash
	r.Reason = "edited"
	if got, _ := r.ComputeHash(); got == h {
		t.Fatal("hash does not cover the reason")
	}
}
