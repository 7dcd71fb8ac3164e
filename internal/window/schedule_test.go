package window_test

import (
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/window"
)

func MustCompile(tb testing.TB, ps ...*policy.Policy) *policy.Engine {
	tb.Helper()
	e, err := policy.Compile(ps)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return e
}

// schedPolicy returns a compiled policy named name with a schedule window.
func schedPolicy(tb testing.TB, name, cron, tz string, dur, lead, lag time.Duration) *policy.Policy {
	tb.Helper()
	p := &policy.Policy{Name: name, Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: cron, Timezone: tz, Duration: dur, Lead: lead, Lag: lag}}}
	MustCompile(tb, p)
	return p
}

func ts(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestScheduleOpen(t *testing.T) {
	const h, m = time.Hour, time.Minute
	nightly := schedPolicy(t, "nightly", "0 2 * * *", "UTC", h, 15*m, 30*m)
	hourly90 := schedPolicy(t, "hourly90", "0 * * * *", "", 90*m, 0, 0)
	bigLead := schedPolicy(t, "biglead", "0 * * * *", "UTC", 10*m, 50*m, 0)
	newYork := schedPolicy(t, "ny", "0 9 * * 1-5", "America/New_York", 8*h, 0, 0)
	berlin := schedPolicy(t, "berlin", "30 2 * * *", "Europe/Berlin", h, 0, 0)
	every := schedPolicy(t, "every", "@every 6h", "Asia/Tokyo", 2*h, 0, 0)
	never := schedPolicy(t, "never", "0 0 30 2 *", "UTC", h, 0, 0)
	dense := schedPolicy(t, "dense", "* * * * *", "UTC", 365*24*h, 0, 0)
	plain := &policy.Policy{Name: "plain", Who: "true", Access: []string{"db/ro"}, TTL: h}

	tests := []struct {
		name          string
		p             *policy.Policy
		now           string
		opens, closes string // "" for no window
	}{
		{"BeforeLead", nightly, "2024-05-01T01:44:59Z", "", ""},
		{"AtLead", nightly, "2024-05-01T01:45:00Z", "2024-05-01T01:45:00Z", "2024-05-01T03:30:00Z"},
		{"AtRun", nightly, "2024-05-01T02:00:00Z", "2024-05-01T01:45:00Z", "2024-05-01T03:30:00Z"},
		{"InLag", nightly, "2024-05-01T03:29:59Z", "2024-05-01T01:45:00Z", "2024-05-01T03:30:00Z"},
		{"AtClose", nightly, "2024-05-01T03:30:00Z", "", ""},
		{"Midday", nightly, "2024-05-01T12:00:00Z", "", ""},
		{"OverlapClosesLast", hourly90, "2024-05-01T10:15:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:30:00Z"},
		{"OverlapAtEarlierClose", hourly90, "2024-05-01T10:30:00Z", "2024-05-01T10:00:00Z", "2024-05-01T11:30:00Z"},
		{"LeadOpensBeforeRun", bigLead, "2024-05-01T10:20:00Z", "2024-05-01T10:10:00Z", "2024-05-01T11:10:00Z"},
		{"LeadGap", bigLead, "2024-05-01T10:05:00Z", "2024-05-01T09:10:00Z", "2024-05-01T10:10:00Z"},
		{"TimezoneOpen", newYork, "2024-01-08T14:00:00Z", "2024-01-08T14:00:00Z", "2024-01-08T22:00:00Z"},
		{"TimezoneBefore", newYork, "2024-01-08T13:59:59Z", "", ""},
		{"TimezoneSummer", newYork, "2024-07-08T13:00:00Z", "2024-07-08T13:00:00Z", "2024-07-08T21:00:00Z"},
		{"TimezoneWeekend", newYork, "2024-01-06T15:00:00Z", "", ""},
		{"BerlinWinter", berlin, "2024-03-30T01:45:00Z", "2024-03-30T01:30:00Z", "2024-03-30T02:30:00Z"},
		// 02:30 does not exist on 2024-03-31: the run is at the jump, 03:00 CEST.
		{"BerlinSpringForward", berlin, "2024-03-31T01:00:00Z", "2024-03-31T01:00:00Z", "2024-03-31T02:00:00Z"},
		{"BerlinSpringForwardBefore", berlin, "2024-03-31T00:59:59Z", "", ""},
		{"BerlinSummer", berlin, "2024-04-01T00:30:00Z", "2024-04-01T00:30:00Z", "2024-04-01T01:30:00Z"},
		// 02:30 happens twice on 2024-10-27: the run is at the first (CEST).
		{"BerlinFallBackFirst", berlin, "2024-10-27T00:30:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"},
		{"BerlinFallBackSecond", berlin, "2024-10-27T01:45:00Z", "", ""},
		{"BerlinAfterFallBack", berlin, "2024-10-28T01:30:00Z", "2024-10-28T01:30:00Z", "2024-10-28T02:30:00Z"},
		{"Every", every, "2024-05-01T07:00:00Z", "2024-05-01T06:00:00Z", "2024-05-01T08:00:00Z"},
		{"EveryClosed", every, "2024-05-01T08:00:00Z", "", ""},
		{"NeverRuns", never, "2024-02-29T12:00:00Z", "", ""},
		{"DenseLong", dense, "2024-05-01T10:00:30Z", "2024-05-01T10:00:00Z", "2025-05-01T10:00:00Z"},
		{"NoWindow", plain, "2024-05-01T02:00:00Z", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := window.ScheduleOpen(tt.p, ts(t, tt.now))
			if tt.opens == "" {
				if ok {
					t.Fatalf("got window %+v, want none", got)
				}
				return
			}
			want := stint.WindowRef{Policy: tt.p.Name, Opens: ts(t, tt.opens), Closes: ts(t, tt.closes)}
			if !ok || got != want {
				t.Fatalf("got %+v (%v), want %+v", got, ok, want)
			}
		})
	}
}

func TestScheduleNext(t *testing.T) {
	const h, m = time.Hour, time.Minute
	nightly := schedPolicy(t, "nightly", "0 2 * * *", "UTC", h, 15*m, 30*m)
	berlin := schedPolicy(t, "berlin", "30 2 * * *", "Europe/Berlin", h, 0, 0)
	quarter := schedPolicy(t, "quarter", "*/15 2 * * *", "Europe/Berlin", 10*m, 0, 0)
	never := schedPolicy(t, "never", "0 0 30 2 *", "UTC", h, 0, 0)

	tests := []struct {
		name  string
		p     *policy.Policy
		now   string
		n     int
		opens []string
	}{
		{"Nightly", nightly, "2024-05-01T01:45:00Z", 2, []string{"2024-05-02T01:45:00Z", "2024-05-03T01:45:00Z"}},
		{"NightlyBeforeOpen", nightly, "2024-05-01T01:44:00Z", 1, []string{"2024-05-01T01:45:00Z"}},
		{"SpringForward", berlin, "2024-03-30T00:00:00Z", 3, []string{"2024-03-30T01:30:00Z", "2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z"}},
		{"FallBack", berlin, "2024-10-26T00:00:00Z", 3, []string{"2024-10-26T00:30:00Z", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"}},
		// 02:00-02:45 do not exist on 2024-03-31: all four runs fall on the jump, once.
		{"SpringForwardGapOnce", quarter, "2024-03-31T00:00:00Z", 2, []string{"2024-03-31T01:00:00Z", "2024-04-01T00:00:00Z"}},
		{"FallBackRepeatedHourOnce", quarter, "2024-10-26T23:00:00Z", 5, []string{
			"2024-10-27T00:00:00Z", "2024-10-27T00:15:00Z", "2024-10-27T00:30:00Z", "2024-10-27T00:45:00Z", "2024-10-28T01:00:00Z"}},
		{"Never", never, "2024-01-01T00:00:00Z", 3, nil},
		{"Zero", nightly, "2024-05-01T00:00:00Z", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := window.ScheduleNext(tt.p, ts(t, tt.now), tt.n)
			if len(got) != len(tt.opens) {
				t.Fatalf("got %d windows %+v, want %d", len(got), got, len(tt.opens))
			}
			s := tt.p.Window.Schedule
			for i, w := range got {
				opens := ts(t, tt.opens[i])
				closes := opens.Add(s.Lead + s.Duration + s.Lag)
				if w.Policy != tt.p.Name || !w.Opens.Equal(opens) || !w.Closes.Equal(closes) {
					t.Errorf("window %d: got %+v, want %s-%s", i, w, opens, closes)
				}
			}
		})
	}
}

// TestScheduleOpen_AgreesWithNext checks, over a year with daylight-saving
// transitions, that a window is open exactly when one of the enumerated
// windows contains the time.
func TestScheduleOpen_AgreesWithNext(t *testing.T) {
	tests := []struct {
		zone, start string
		days        int
	}{
		{"Europe/Berlin", "2024-01-01T00:00:00Z", 366},
		{"America/New_York", "2024-01-01T00:00:00Z", 366},
		{"Australia/Lord_Howe", "2024-01-01T00:00:00Z", 366}, // 30-minute DST
		{"Pacific/Apia", "2011-12-01T00:00:00Z", 61},         // skipped 2011-12-30 entirely
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			p := schedPolicy(t, "p", "30 2 * * *", tt.zone, 20*time.Minute, 15*time.Minute, 5*time.Minute)
			start := ts(t, tt.start)
			wins := window.ScheduleNext(p, start, tt.days)
			if len(wins) != tt.days {
				t.Fatalf("got %d windows, want %d", len(wins), tt.days)
			}
			for i := 1; i < len(wins); i++ {
				if !wins[i].Opens.After(wins[i-1].Opens) {
					t.Fatalf("windows out of order: %+v, %+v", wins[i-1], wins[i])
				}
			}
			for now := start.Add(time.Hour); now.Before(wins[len(wins)-1].Opens); now = now.Add(7 * time.Minute) {
				var want *stint.WindowRef
				for i := range wins {
					if !now.Before(wins[i].Opens) && now.Before(wins[i].Closes) {
						want = &wins[i]
					}
				}
				got, ok := window.ScheduleOpen(p, now)
				if ok != (want != nil) || ok && got != *want {
					t.Fatalf("at %s: got %+v (%v), want %+v", now, got, ok, want)
				}
			}
		})
	}
}
