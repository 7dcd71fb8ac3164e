package main_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stint-io/stint/internal/testenv"
)

// migrateHarness fills a store through a running server, stops it, and
// returns the harness (to restart on the copy) and the source URL.
func migrateHarness(t *testing.T) (*harness, string, []string) {
	t.Helper()
	h := startHarness(t)
	var ids []string
	for i := 0; i < 3; i++ {
		var g grantOut
		h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
		ids = append(ids, g.ID)
	}
	h.stint(h.workload, "revoke", ids[0], "--reason", "done")
	h.stint(h.workload, "request", "internal-api/admin") // a denial
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := h.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return h, "sqlite:" + filepath.Join(h.dir, "stint.db"), ids
}

// checkCopy restarts the server on the copy and checks the grants and the chain.
func checkCopy(t *testing.T, h *harness, to string, ids []string) {
	t.Helper()
	h.writeConfig(strings.Replace(e2eConfig, "storage: sqlite:{{DIR}}/stint.db", "storage: "+to, 1))
	h.start()
	var gs []grantOut
	h.mustJSON(h.admin, &gs, "grants", "--json")
	if len(gs) != 4 {
		t.Fatalf("%d grants in the copy, want 4", len(gs))
	}
	var g grantOut
	h.mustJSON(h.workload, &g, "show", ids[0], "--json")
	if g.State != "revoked" || len(g.History) < 3 {
		t.Fatalf("copied grant: %+v", g)
	}
	if out, _, code := h.stint(h.admin, "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify the copy: %d %s", code, out)
	}
	// The copy goes on: new records chain after the copied ones.
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
	if out, _, code := h.stint(h.admin, "audit", "verify"); code != 0 {
		t.Fatalf("verify after a new grant: %d %s", code, out)
	}
}

func TestE2E_MigrateSQLite(t *testing.T) {
	h, from, ids := migrateHarness(t)
	to := "sqlite:" + filepath.Join(h.dir, "copy.db")
	out, errs, code := h.stint("", "migrate", "--from", from, "--to", to)
	if code != 0 || !strings.Contains(out, "chain verified") {
		t.Fatalf("migrate: %d %s %s", code, out, errs)
	}
	if _, errs, code := h.stint("", "migrate", "--from", from, "--to", to); code != 2 || !strings.Contains(errs, "not empty") {
		t.Fatalf("migrate into a non-empty store: %d %s", code, errs)
	}
	checkCopy(t, h, to, ids)
}

// TestE2E_MigratePostgres copies a SQLite store into PostgreSQL, then runs
// the server on PostgreSQL storage.
func TestE2E_MigratePostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "stint")
	h, from, ids := migrateHarness(t)
	to := pg.DSN("stint")
	out, errs, code := h.stint("", "migrate", "--from", from, "--to", to)
	if code != 0 || !strings.Contains(out, "chain verified") {
		t.Fatalf("migrate: %d %s %s", code, out, errs)
	}
	if strings.Contains(out+errs, "password") {
		t.Fatalf("migrate output mentions a password: %s %s", out, errs)
	}
	checkCopy(t, h, to, ids)
}
