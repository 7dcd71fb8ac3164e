package main

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/store/postgres"
	"github.com/stint-io/stint/store/sqlite"
	"github.com/stint-io/stint/store/storetest"
)

func TestMigrate_ExactChain(t *testing.T) {
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "dst")
	path := filepath.Join(t.TempDir(), "src.db")
	src, err := sqlite.Open(ctx, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := storetest.Base.Add(123 * time.Nanosecond)
	g := storetest.NewGrant(at, "svc/a", "a/b", stint.StateActive)
	g.DueAt = stint.TimePtr(at.Add(time.Minute + 789))
	g.ExpiresAt = stint.TimePtr(at.Add(time.Minute + 789))
	r := storetest.NewRecord(at, stint.AuditGrantRequested, g)
	r.Details = map[string]any{"big": uint64(18446744073709551615), "f": 0.1, "e": 1e21, "neg0": -0.0, "h": "<a&b>", "u": "é\u2028", "n": map[string]any{"z": 1, "a": []any{1.5, nil, true}}}
	if err := src.CreateGrant(ctx, g, r); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := src.AppendAudit(ctx, &stint.AuditRecord{Time: at.Add(time.Duration(i)), Type: "config.loaded", Actor: "stint"}); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	var out bytes.Buffer
	if err := migrate(ctx, &out, "sqlite:"+path, pg.DSN("dst")); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	src, _ = sqlite.Open(ctx, path, nil, nil)
	defer src.Close()
	dst, _ := postgres.Open(ctx, pg.DSN("dst"), nil, nil)
	defer dst.Close()
	a, _ := src.ListAudit(ctx, stint.AuditFilter{})
	b, _ := dst.ListAudit(ctx, stint.AuditFilter{})
	// The copy ends with its store.migrated record; before it, the chain is
	// the source's, record for record.
	if len(b) != len(a)+1 || b[len(b)-1].Type != AuditStoreMigrated || !reflect.DeepEqual(a, b[:len(a)]) {
		t.Errorf("audit differs")
	}
	ga, _ := src.GetGrant(ctx, g.ID)
	gb, _ := dst.GetGrant(ctx, g.ID)
	t.Logf("src due %v ver %d / dst due %v ver %d", ga.DueAt, ga.Version, gb.DueAt, gb.Version)
}
