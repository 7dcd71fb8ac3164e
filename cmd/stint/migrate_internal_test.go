package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/store/postgres"
	"github.com/stint-io/stint/store/sqlite"
	"github.com/stint-io/stint/store/storetest"
)

// Migrating from PostgreSQL drops the notification cursors.
func TestMigrate_KeepsCursorsFromPostgres(t *testing.T) {
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "src")
	src, err := postgres.Open(ctx, pg.DSN("src"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := src.AppendAudit(ctx, storetest.NewRecord(time.Time{}, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := src.NotifyCursor(ctx, "target1")
	c.LastSeq = 4 // records 5..10 not yet delivered
	if err := src.SetNotifyCursor(ctx, c); err != nil {
		t.Fatal(err)
	}
	src.Close()
	to := "sqlite:" + filepath.Join(t.TempDir(), "dst.db")
	var out bytes.Buffer
	if err := migrate(ctx, &out, pg.DSN("src"), to); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	dst, err := sqlite.Open(ctx, filepath.Join(filepath.Dir(to[len("sqlite:"):]), "dst.db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	cs, _ := dst.NotifyCursors(ctx)
	t.Logf("cursors in the copy: %d", len(cs))
	if len(cs) != 1 {
		dc, _ := dst.NotifyCursor(ctx, "target1")
		t.Errorf("cursor target1 lost; the notifier would now start at seq %d, so records 5..10 are never delivered", dc.LastSeq)
	}
}
