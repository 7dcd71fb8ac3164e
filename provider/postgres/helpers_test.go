package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	yaml "go.yaml.in/yaml/v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/provider/postgres"
)

// server is the throwaway cluster shared by the package's tests.
var server *testenv.Postgres

// backupPassword is the standing password of the existing role backup_svc.
const backupPassword = "backup-standing-pw"

func TestMain(m *testing.M) {
	pg, stop, err := testenv.StartPostgresProcess("")
	if errors.Is(err, testenv.ErrNoPostgres) && os.Getenv(testenv.EnvRequireServices) == "" {
		fmt.Println("skipping postgres provider tests:", err)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = pg
	code := func() int {
		ctx := context.Background()
		if err := pg.ExecDB(ctx, "postgres", "CREATE DATABASE app"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		setup := `CREATE TABLE items (id int PRIMARY KEY, name text);
			INSERT INTO items VALUES (1, 'one'), (2, 'two');
			CREATE ROLE app_reader NOLOGIN; GRANT SELECT ON items TO app_reader;
			CREATE ROLE app_writer NOLOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON items TO app_writer;
			CREATE ROLE app_owner NOLOGIN; GRANT CREATE ON SCHEMA public TO app_owner;
			CREATE ROLE backup_svc LOGIN PASSWORD '` + backupPassword + `';
			CREATE ROLE standing_user LOGIN PASSWORD 'standing-pw' IN ROLE app_reader;
			CREATE ROLE nested_group NOLOGIN IN ROLE app_writer;
			CREATE ROLE nested_user LOGIN PASSWORD 'nested-pw' VALID UNTIL '2999-01-01' IN ROLE nested_group;`
		if err := pg.ExecDB(ctx, "app", setup); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	stop()
	os.Exit(code)
}

// spec returns a ResourceSpec whose Decode decodes doc (YAML) strictly.
func spec(name, doc string) stint.ResourceSpec {
	return stint.ResourceSpec{
		Name: name,
		Decode: func(v any) error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
			dec.KnownFields(true)
			return dec.Decode(v)
		},
		Clock: stint.SystemClock,
	}
}

// baseRoles are the roles most tests configure.
const baseRoles = `
roles:
  readonly: { grant: [app_reader] }
  write: { grant: [app_writer] }
  limited: { grant: [app_reader], connection_limit: 1 }
  owner: { grant: [app_owner] }
  tableread: { privileges: ["GRANT SELECT ON items TO {{role}}"] }
  backup: { elevate: backup_svc, grant: [app_reader] }
  backupw: { elevate: backup_svc, grant: [app_reader, app_writer] }
`

// newProvider opens a provider on the app database with role_prefix
// prefix and the base roles, closed when t ends.
func newProvider(t *testing.T, prefix string, extra string) *postgres.Provider {
	t.Helper()
	doc := fmt.Sprintf("provider: postgres\ndsn: %q\nrole_prefix: %s\nusage_interval: 1h\n%s%s",
		server.DSN("app"), prefix, extra, baseRoles)
	p, err := postgres.Open(spec("app-db", doc))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newGrant(role string, ttl time.Duration) *stint.Grant {
	now := time.Now().UTC()
	return &stint.Grant{
		ID: stint.NewID(now), Principal: "svc/test", PrincipalKind: "workload",
		Access: "app-db/" + role, State: stint.StateIssuing, TTL: stint.Duration(ttl),
		ActivatedAt: stint.TimePtr(now), ExpiresAt: stint.TimePtr(now.Add(ttl)),
	}
}

func issue(t *testing.T, p *postgres.Provider, g *stint.Grant) *stint.Credential {
	t.Helper()
	cred, err := p.Issue(ctxT(t), g)
	if err != nil {
		t.Fatalf("Issue(%s): %v", g.Access, err)
	}
	return cred
}

func revoke(t *testing.T, p *postgres.Provider, g *stint.Grant) {
	t.Helper()
	if err := p.Revoke(ctxT(t), g); err != nil {
		t.Fatalf("Revoke(%s): %v", g.ID, err)
	}
}

// connect logs in with the credential's DATABASE_URL.
func connect(ctx context.Context, cred *stint.Credential) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, cred.Env[postgres.EnvURL])
}

// canRead reports whether the credential logs in and reads items.
func canRead(t *testing.T, cred *stint.Credential) bool {
	t.Helper()
	ctx := ctxT(t)
	conn, err := connect(ctx, cred)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var n int
	return conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n) == nil && n >= 2
}

// query runs sql as the superuser on app and returns the first column of
// the first row as text ("" when there is no row).
func query(t *testing.T, sql string, args ...any) string {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, server.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s *string
	err = conn.QueryRow(ctx, sql, args...).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) || s == nil {
		return ""
	}
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return *s
}

func roleExists(t *testing.T, name string) bool {
	t.Helper()
	return query(t, "SELECT rolname::text FROM pg_roles WHERE rolname = $1", name) != ""
}

func isMember(t *testing.T, member, group string) bool {
	t.Helper()
	return query(t, `SELECT 'yes' FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
		JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = $1 AND r.rolname = $2`, group, member) == "yes"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
