package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func testEvents(t *testing.T, open func(*testing.T) stint.Store) {
	s := open(t)
	es, ok := s.(stint.EventStore)
	if !ok {
		t.Fatal("store does not implement stint.EventStore")
	}
	ctx := context.Background()
	evs := []*stint.Event{
		{Source: "pd", Type: "incident.triggered", ID: "e1", Time: Base, Data: map[string]any{"id": "P1", "urgency": "high"}, ReceivedAt: Base.Add(time.Second)},
		{Source: "pd", Type: "incident.resolved", ID: "e2", Time: Base.Add(time.Hour), Data: map[string]any{"id": "P1"}, ReceivedAt: Base.Add(time.Hour)},
		{Source: "gh", Type: "deployment", ID: "e1", Time: Base.Add(time.Minute), ReceivedAt: Base.Add(time.Minute)},
	}
	for i, ev := range evs {
		rec := &stint.AuditRecord{Time: ev.ReceivedAt, Type: stint.AuditEventReceived, Actor: ev.Source, Details: map[string]any{"id": ev.ID}}
		dup, err := es.AppendEvent(ctx, ev, rec)
		if err != nil || dup {
			t.Fatalf("append %d: dup %v, %v", i, dup, err)
		}
	}
	dup, err := es.AppendEvent(ctx, evs[0], &stint.AuditRecord{Time: Base, Type: stint.AuditEventReceived, Actor: "pd"})
	if err != nil || !dup {
		t.Fatalf("redelivery: dup %v, %v", dup, err)
	}
	got, err := es.ListEvents(ctx, Base)
	if err != nil || len(got) != 3 || got[0].ID != "e1" || got[1].Source != "gh" || got[2].ID != "e2" {
		t.Fatalf("list: %+v %v", got, err)
	}
	if got[0].Data["urgency"] != "high" || !got[0].Time.Equal(Base) || got[2].Data == nil {
		t.Fatalf("round trip: %+v", got[0])
	}
	if got, _ := es.ListEvents(ctx, Base.Add(time.Minute)); len(got) != 2 {
		t.Fatalf("since: %d events", len(got))
	}
	recs, _ := s.ListAudit(ctx, stint.AuditFilter{})
	if len(recs) != 3 {
		t.Fatalf("audit: %d records, want 3 (none for the redelivery)", len(recs))
	}
	if _, err := es.AppendEvent(ctx, &stint.Event{Source: "pd"}, nil); stint.ErrorCode(err) != stint.EINVALID {
		t.Fatalf("event without id: %v", err)
	}
}

func testPolicyFilter(t *testing.T, open func(*testing.T) stint.Store) {
	s := open(t)
	ctx := context.Background()
	for i, pol := range []string{"a", "b", "a"} {
		g := NewGrant(Base.Add(time.Duration(i)*time.Millisecond), "svc/x", "db/ro", stint.StateActive)
		g.Policy = pol
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	gs, _, err := s.ListGrants(ctx, stint.GrantFilter{Policy: "a", State: []stint.State{stint.StateActive}})
	if err != nil || len(gs) != 2 || gs[0].Policy != "a" || gs[1].Policy != "a" {
		t.Fatalf("policy filter: %d %v", len(gs), err)
	}
}
