package window_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/window"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// irPolicy is the incident-response policy of the contract.
func irPolicy() *policy.Policy {
	return &policy.Policy{Name: "ir", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{
			Source: "pagerduty",
			Open:   `event.type == "incident.triggered" && event.data.urgency == "high"`,
			Close:  `event.type == "incident.resolved"`,
			Key:    `event.data.id`,
			Max:    4 * time.Hour,
		}}}
}

// deployPolicy has no key expression: one window per policy.
func deployPolicy() *policy.Policy {
	return &policy.Policy{Name: "deploy", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{
			Source: "github",
			Open:   `event.type.startsWith("deployment")`,
			Close:  `event.type == "deployment.finished"`,
			Max:    2 * time.Hour,
		}}}
}

func trig(id, incident string, at time.Duration) policy.Event {
	return policy.Event{Source: "pagerduty", Type: "incident.triggered", ID: id, Time: t0.Add(at),
		Data: map[string]any{"id": incident, "urgency": "high"}}
}

func resolve(id, incident string, at time.Duration) policy.Event {
	return policy.Event{Source: "pagerduty", Type: "incident.resolved", ID: id, Time: t0.Add(at),
		Data: map[string]any{"id": incident}}
}

func gh(id, typ string, at time.Duration) policy.Event {
	return policy.Event{Source: "github", Type: typ, ID: id, Time: t0.Add(at), Data: map[string]any{}}
}

func win(policy, key string, opens, closes time.Duration) stint.WindowRef {
	return stint.WindowRef{Policy: policy, Key: key, Opens: t0.Add(opens), Closes: t0.Add(closes)}
}

func TestEventWindows(t *testing.T) {
	const h, m = time.Hour, time.Minute
	ir, deploy := irPolicy(), deployPolicy()
	e := MustCompile(t, ir, deploy)
	tests := []struct {
		name   string
		p      *policy.Policy
		events []policy.Event
		now    time.Duration
		want   []stint.WindowRef
	}{
		{"None", ir, nil, h, nil},
		{"Open", ir, []policy.Event{trig("1", "A", 0)}, h, []stint.WindowRef{win("ir", "A", 0, 4*h)}},
		{"AtOpen", ir, []policy.Event{trig("1", "A", 0)}, 0, []stint.WindowRef{win("ir", "A", 0, 4*h)}},
		{"BeforeOpen", ir, []policy.Event{trig("1", "A", 0)}, -m, nil},
		{"Closed", ir, []policy.Event{trig("1", "A", 0), resolve("2", "A", h)}, 2 * h, nil},
		{"AtClose", ir, []policy.Event{trig("1", "A", 0), resolve("2", "A", h)}, h, nil},
		{"CloseNotYet", ir, []policy.Event{trig("1", "A", 0), resolve("2", "A", h)}, 30 * m, []stint.WindowRef{win("ir", "A", 0, 4*h)}},
		{"Max", ir, []policy.Event{trig("1", "A", 0)}, 4 * h, nil},
		{"KeysPair", ir, []policy.Event{trig("1", "A", 0), trig("2", "B", h), resolve("3", "A", 2*h)}, 3 * h,
			[]stint.WindowRef{win("ir", "B", h, 5*h)}},
		{"TwoOpen", ir, []policy.Event{trig("1", "A", 0), trig("2", "B", h)}, 2 * h,
			[]stint.WindowRef{win("ir", "A", 0, 4*h), win("ir", "B", h, 5*h)}},
		{"CloseOtherKey", ir, []policy.Event{trig("1", "A", 0), resolve("2", "B", h)}, 2 * h, []stint.WindowRef{win("ir", "A", 0, 4*h)}},
		{"CloseBeforeOpen", ir, []policy.Event{resolve("1", "A", -h), trig("2", "A", 0)}, h, []stint.WindowRef{win("ir", "A", 0, 4*h)}},
		{"OutOfOrder", ir, []policy.Event{resolve("2", "A", h), trig("1", "A", 0)}, 2 * h, nil},
		// A re-open (the incident fires again) extends the window to max after it.
		{"ReopenExtends", ir, []policy.Event{trig("1", "A", 0), trig("2", "A", 3*h)}, 3*h + 30*m, []stint.WindowRef{win("ir", "A", 0, 7*h)}},
		{"ReopenExtendsPastFirstMax", ir, []policy.Event{trig("1", "A", 0), trig("2", "A", 3*h)}, 4*h + 10*m, []stint.WindowRef{win("ir", "A", 0, 7*h)}},
		{"ExtendedStillBounded", ir, []policy.Event{trig("1", "A", 0), trig("2", "A", 3*h)}, 7 * h, nil},
		// The resolve lacks the field the open condition reads: it still closes.
		{"CloseDespiteOpenError", ir, []policy.Event{trig("1", "A", 0), {Source: "pagerduty", Type: "incident.resolved", ID: "2", Time: t0.Add(h), Data: map[string]any{"id": "A"}}}, 2 * h, nil},
		{"ReopenAfterMax", ir, []policy.Event{trig("1", "A", 0), trig("2", "A", 5*h)}, 5*h + m, []stint.WindowRef{win("ir", "A", 5*h, 9*h)}},
		{"ReopenAtMax", ir, []policy.Event{trig("1", "A", 0), trig("2", "A", 4*h)}, 4 * h, []stint.WindowRef{win("ir", "A", 4*h, 8*h)}},
		{"ReopenAfterClose", ir, []policy.Event{trig("1", "A", 0), resolve("2", "A", h), trig("3", "A", 2*h)}, 2 * h, []stint.WindowRef{win("ir", "A", 2*h, 6*h)}},
		{"CloseAtOpen", ir, []policy.Event{trig("1", "A", 0), resolve("2", "A", 0)}, 0, nil},
		{"LowUrgency", ir, []policy.Event{{Source: "pagerduty", Type: "incident.triggered", ID: "1", Time: t0, Data: map[string]any{"id": "A", "urgency": "low"}}}, h, nil},
		{"OtherSource", ir, []policy.Event{{Source: "github", Type: "incident.triggered", ID: "1", Time: t0, Data: map[string]any{"id": "A", "urgency": "high"}}}, h, nil},
		{"CELErrorOpen", ir, []policy.Event{{Source: "pagerduty", Type: "incident.triggered", ID: "1", Time: t0, Data: map[string]any{"id": "A"}}}, h, nil},
		{"CELErrorKey", ir, []policy.Event{{Source: "pagerduty", Type: "incident.triggered", ID: "1", Time: t0, Data: map[string]any{"urgency": "high"}}}, h, nil},
		{"Future", ir, []policy.Event{trig("1", "A", 2*h)}, h, nil},
		{"NoKeyOneWindow", deploy, []policy.Event{gh("1", "deployment.created", 0), gh("2", "deployment_status.created", 10*m)}, 30 * m,
			[]stint.WindowRef{win("deploy", "", 0, 2*h+10*m)}},
		{"NoKeyClose", deploy, []policy.Event{gh("1", "deployment.created", 0), gh("2", "deployment.finished", 10*m)}, 30 * m, nil},
		// deployment.finished matches open and close: it closes.
		{"BothCloses", deploy, []policy.Event{gh("1", "deployment.finished", 0)}, 30 * m, nil},
		// A redelivery keeps its ID; github events are dated when received.
		{"RedeliveryCountsOnce", deploy, []policy.Event{gh("1", "deployment.created", 0), gh("2", "deployment.finished", 10*m), gh("1", "deployment.created", 20*m)}, 30 * m, nil},
		{"NoWindow", &policy.Policy{Name: "x"}, []policy.Event{trig("1", "A", 0)}, h, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := window.EventWindows(e, tt.p, tt.events, t0.Add(tt.now))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	nightly := &policy.Policy{Name: "nightly", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Schedule: &policy.ScheduleSpec{Cron: "0 10 * * *", Duration: time.Hour}}}
	plain := &policy.Policy{Name: "plain", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}
	e := MustCompile(t, nightly, irPolicy(), plain, deployPolicy())
	events := []policy.Event{trig("1", "A", 0), gh("g1", "deployment.created", 0), trig("2", "B", 0)}
	got := window.Open(e, events, t0.Add(30*time.Minute))
	want := []stint.WindowRef{
		win("nightly", "", 0, time.Hour),
		win("ir", "A", 0, 4*time.Hour), win("ir", "B", 0, 4*time.Hour),
		win("deploy", "", 0, 2*time.Hour),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got := window.Open(e, events, t0.Add(-time.Minute)); len(got) != 0 {
		t.Fatalf("before: got %+v", got)
	}
	if got := window.Open(nil, events, t0); got != nil {
		t.Fatalf("nil engine: got %+v", got)
	}

	// The broker passes Open to Decide: the window policy allows while open.
	who := &stint.Principal{Name: "svc/x", Kind: stint.KindWorkload, Issuer: "static"}
	d := e.Decide(who, stint.AccessRequest{Access: "db/ro", TTL: 2 * time.Hour}, got, t0.Add(30*time.Minute))
	if d.Outcome != stint.OutcomeAllow {
		t.Fatalf("Decide: %s: %s", d.Outcome, d.Reason)
	}
}

func TestLookback(t *testing.T) {
	if got := window.Lookback(MustCompile(t, irPolicy(), deployPolicy())); got != 8*time.Hour {
		t.Fatalf("got %s", got)
	}
	plain := &policy.Policy{Name: "plain", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour}
	if got := window.Lookback(MustCompile(t, plain)); got != 0 {
		t.Fatalf("got %s", got)
	}
}

func TestRelevant(t *testing.T) {
	e := MustCompile(t, irPolicy(), deployPolicy())
	tests := []struct {
		name string
		ev   policy.Event
		want bool
	}{
		{"Open", trig("1", "A", 0), true},
		{"Close", resolve("1", "A", 0), true},
		{"GitHub", gh("1", "deployment.created", 0), true},
		{"Other", gh("1", "push", 0), false},
		{"CELError", policy.Event{Source: "pagerduty", Type: "incident.triggered"}, false},
		{"UnknownSource", policy.Event{Source: "ops", Type: "incident.triggered"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := window.Relevant(e, tt.ev); got != tt.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}
