package storetest

import (
	"context"
	"testing"

	"github.com/stint-io/stint"
)

func testDiscovery(t *testing.T, open func(*testing.T) stint.Store) {
	s := open(t)
	ds, ok := s.(stint.DiscoveryStore)
	if !ok {
		t.Fatal("store does not implement stint.DiscoveryStore")
	}
	ctx := context.Background()
	runs := []*stint.DiscoveryRun{
		{Resource: "db", Time: Base, Privileges: []stint.StandingPrivilege{
			{Resource: "db", Principal: "app", Privilege: "member", Detail: "app > writer"},
			{Resource: "db", Principal: "root", Privilege: "superuser"},
		}},
		{Resource: "other", Time: Base.Add(1), Privileges: nil},
		{Resource: "db", Time: Base.Add(2), Privileges: []stint.StandingPrivilege{{Resource: "db", Principal: "app", Privilege: "member"}}},
	}
	for i, r := range runs {
		rec := &stint.AuditRecord{Time: r.Time, Type: "discovery.run", Actor: "alice", Details: map[string]any{"found": len(r.Privileges)}}
		if err := ds.SaveDiscovery(ctx, r, rec); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		if r.ID == 0 {
			t.Fatalf("run %d: no id", i)
		}
	}
	got, err := ds.ListDiscoveries(ctx, "db", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != runs[2].ID || got[1].ID != runs[0].ID {
		t.Fatalf("db runs newest first: %+v", got)
	}
	if len(got[1].Privileges) != 2 || got[1].Privileges[0] != runs[0].Privileges[0] || !got[1].Time.Equal(Base) {
		t.Fatalf("round trip: %+v", got[1])
	}
	all, err := ds.ListDiscoveries(ctx, "", 1)
	if err != nil || len(all) != 1 || all[0].Resource != "db" {
		t.Fatalf("all, limit 1: %+v %v", all, err)
	}
	if other, _ := ds.ListDiscoveries(ctx, "other", 0); len(other) != 1 || other[0].Privileges == nil && len(other[0].Privileges) != 0 {
		t.Fatalf("empty run: %+v", other)
	}
	recs, err := s.ListAudit(ctx, stint.AuditFilter{})
	if err != nil || len(recs) != 3 || recs[2].Type != "discovery.run" {
		t.Fatalf("audit: %d %v", len(recs), err)
	}
	if err := ds.SaveDiscovery(ctx, &stint.DiscoveryRun{}, nil); stint.ErrorCode(err) != stint.EINVALID {
		t.Fatalf("run without resource: %v", err)
	}
}
