package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stint-io/stint/provider/postgres"
)

func TestProvider_ReviewMissingReassignToReportsSuccess(t *testing.T) {
	p := newProvider(t, "stintr_", "reassign_to: no_such_role\n")
	g := newGrant("readonly", time.Hour)
	g.Access = "app-db/readonly"
	issue(t, p, g)
	err := p.Revoke(ctxT(t), g)
	role := "stintr_" + g.ID
	exists := query(t, "SELECT rolname FROM pg_roles WHERE rolname = $1", role)
	login := query(t, "SELECT rolcanlogin::text FROM pg_roles WHERE rolname = $1", role)
	t.Logf("Revoke err=%v; role still exists=%q canlogin=%q", err, exists, login)
	if err == nil && exists != "" {
		t.Errorf("Revoke reported success but role %s still exists", role)
	}
}

func TestProvider_ReviewSCSOffInjection(t *testing.T) {
	ctx := context.Background()
	if err := server.ExecDB(ctx, "postgres", "CREATE DATABASE scsoff"); err != nil {
		t.Fatal(err)
	}
	if err := server.ExecDB(ctx, "postgres", "ALTER DATABASE scsoff SET standard_conforming_strings = off; ALTER DATABASE scsoff SET escape_string_warning = off"); err != nil {
		t.Fatal(err)
	}
	evil := `stint_a\'; CREATE ROLE pwned_by_name; --`
	if err := server.ExecDB(ctx, "scsoff", `CREATE ROLE "`+evil+`" NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("provider: postgres\ndsn: %q\nusage_interval: 1h\nroles:\n  r: { grant: [pg_read_all_data] }\n", server.DSN("scsoff"))
	p, err := postgres.Open(spec("scs", doc))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ids, err := p.List(ctx)
	t.Logf("List: %q %v", ids, err)
	for _, id := range ids {
		t.Logf("RemoveOrphan(%q): %v", id, p.RemoveOrphan(ctx, id))
	}
	if got := query(t, "SELECT rolname FROM pg_roles WHERE rolname = 'pwned_by_name'"); got != "" {
		t.Errorf("role name injected SQL: role %q was created", got)
	}
}
