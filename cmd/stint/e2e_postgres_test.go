package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stint-io/stint/internal/testenv"
)

const pgConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: svc/nightly-backup, kind: workload, sha256: {{WORKLOAD}} }
    - { subject: alice@example.com, kind: human, groups: [db-owners], sha256: {{APPROVER}} }
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  admins: [group:admins]
resources:
  prod-db:
    provider: postgres
    dsn: ${env:PROD_DB_ADMIN_DSN}
    database: app
    roles:
      readonly: { grant: [app_reader] }
      migrate:  { grant: [app_owner] }
policies:
  - name: nightly
    who: principal.name == "svc/nightly-backup"
    access: [prod-db/readonly]
    ttl: 10m
  - name: migrations
    who: principal.kind == "workload"
    access: [prod-db/migrate]
    ttl: 15m
    require: [reason]
    approval: { approvers: [group:db-owners], count: 1, timeout: 30m }
`

func TestE2E_Postgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "app")
	ctx := context.Background()
	for _, q := range []string{
		`CREATE ROLE app_reader NOLOGIN`,
		`CREATE ROLE app_owner NOLOGIN`,
		`CREATE ROLE legacy_app LOGIN PASSWORD 'standing' IN ROLE app_owner`,
		`CREATE TABLE accounts (id int PRIMARY KEY, name text)`,
		`INSERT INTO accounts VALUES (1, 'acme')`,
		`GRANT SELECT ON accounts TO app_reader`,
		`GRANT ALL ON accounts TO app_owner`,
	} {
		if err := pg.ExecDB(ctx, "app", q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Setenv("PROD_DB_ADMIN_DSN", pg.AdminDSN())
	h := startHarnessWith(t, pgConfig, nil)

	// stint exec with psql: the nightly job reads with a role that exists
	// only while the command runs.
	out, errs, code := h.stint(h.workload, "exec", "prod-db/readonly", "--", "psql", "-XAtc", "select current_user || ' ' || name from accounts")
	if code != 0 || !strings.Contains(out, "stint_") || !strings.Contains(out, " acme") {
		t.Fatalf("exec psql: exit %d\n%s\n%s", code, out, errs)
	}
	role := strings.Fields(out)[0]
	conn, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n); err != nil || n != 0 {
		t.Fatalf("role %s still exists after exec (%d, %v)", role, n, err)
	}

	// A read-only grant cannot write.
	_, errs, code = h.stint(h.workload, "exec", "prod-db/readonly", "--", "psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", "insert into accounts values (2, 'evil')")
	if code == 0 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("read-only grant wrote: exit %d: %s", code, errs)
	}

	// The credential in JSON: a password login that works, VALID UNTIL set.
	var g grantOut
	h.mustJSON(h.workload, &g, "request", "prod-db/readonly", "--ttl", "5m", "--json")
	dsn := g.Credential.Env["DATABASE_URL"]
	c2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect with the credential: %v", err)
	}
	c2.Close(ctx)
	var validUntil *string
	conn.QueryRow(ctx, `SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1`, g.Credential.Env["PGUSER"]).Scan(&validUntil)
	if validUntil == nil {
		t.Fatal("ephemeral role has no VALID UNTIL")
	}
	if _, _, code := h.stint(h.workload, "revoke", g.ID); code != 0 {
		t.Fatal("revoke failed")
	}
	if c3, err := pgx.Connect(ctx, dsn); err == nil {
		c3.Close(ctx)
		t.Fatal("login works after revocation")
	}

	// Discovery finds the standing login role with membership in a role Stint grants.
	out, errs, code = h.stint(h.admin, "discover", "prod-db", "--json")
	if code != 0 {
		t.Fatalf("discover: %d %s", code, errs)
	}
	var privs []struct{ Principal, Privilege string }
	if err := json.Unmarshal([]byte(out), &privs); err != nil {
		t.Fatal(err, out)
	}
	found := false
	for _, p := range privs {
		found = found || (p.Principal == "legacy_app" && p.Privilege == "member")
	}
	if !found {
		t.Fatalf("discover did not report legacy_app: %s", out)
	}
	if _, _, code := h.stint(h.workload, "discover"); code != 3 {
		t.Fatalf("workload ran discovery: exit %d", code)
	}

	// policy check reports a role that does not exist on the reachable server.
	bad := filepath.Join(h.dir, "bad.yaml")
	cfg, _ := os.ReadFile(h.cfgPath)
	os.WriteFile(bad, []byte(strings.Replace(string(cfg), "grant: [app_owner]", "grant: [app_ownr]", 1)), 0o600)
	if _, errs, code := h.stint("", "policy", "check", "--config", bad); code != 2 || !strings.Contains(errs, "bad.yaml:") || !strings.Contains(errs, "app_ownr") {
		t.Fatalf("policy check with a missing role: exit %d: %s", code, errs)
	}
	if out, errs, code := h.stint("", "policy", "check", "--config", h.cfgPath); code != 0 {
		t.Fatalf("policy check of the good file: %d %s %s", code, out, errs)
	}
}
