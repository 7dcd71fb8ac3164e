package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/postgres"
	"github.com/stint-io/stint/provider/providertest"
)

func TestProvider_Conformance(t *testing.T) {
	p := newProvider(t, "stint_", "")
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Grant:    func() *stint.Grant { return providertest.NewGrant(time.Now(), "app-db/readonly", time.Hour) },
		CheckAccess: func(t *testing.T, g *stint.Grant, cred *stint.Credential) bool {
			return canRead(t, cred)
		},
	})
}

func TestProvider_Issue(t *testing.T) {
	p := newProvider(t, "stint_", "")
	ctx := ctxT(t)

	t.Run("Credential", func(t *testing.T) {
		g := newGrant("readonly", time.Hour)
		cred := issue(t, p, g)
		defer revoke(t, p, g)
		role := "stint_" + g.ID
		want := map[string]string{
			postgres.EnvHost: "127.0.0.1", postgres.EnvPort: strconv.Itoa(server.Port),
			postgres.EnvDatabase: "app", postgres.EnvUser: role,
		}
		for k, v := range want {
			if cred.Env[k] != v {
				t.Errorf("%s = %q, want %q", k, cred.Env[k], v)
			}
		}
		if len(cred.Env[postgres.EnvPassword]) < 40 {
			t.Errorf("password too short: %d characters", len(cred.Env[postgres.EnvPassword]))
		}
		u, err := url.Parse(cred.Env[postgres.EnvURL])
		if err != nil {
			t.Fatal(err)
		}
		pw, _ := u.User.Password()
		if u.User.Username() != role || pw != cred.Env[postgres.EnvPassword] || u.Query().Get("sslmode") != "disable" || u.Path != "/app" {
			t.Errorf("DATABASE_URL has user %q, sslmode %q, path %q", u.User.Username(), u.Query().Get("sslmode"), u.Path)
		}
		if g.ProviderData[postgres.DataRole] != role {
			t.Errorf("ProviderData[role] = %q, want %q", g.ProviderData[postgres.DataRole], role)
		}
		if got := query(t, "SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1", role); got == "" {
			t.Error("role has no VALID UNTIL")
		}
		if !canRead(t, cred) {
			t.Error("credential cannot read items")
		}
	})

	t.Run("ReadOnlyCannotWrite", func(t *testing.T) {
		g := newGrant("readonly", time.Hour)
		cred := issue(t, p, g)
		defer revoke(t, p, g)
		conn, err := connect(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "INSERT INTO items VALUES (100, 'x')")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("INSERT as readonly: %v, want insufficient_privilege", err)
		}
	})

	t.Run("WriteRoleCanWrite", func(t *testing.T) {
		g := newGrant("write", time.Hour)
		cred := issue(t, p, g)
		defer revoke(t, p, g)
		conn, err := connect(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "UPDATE items SET name = name WHERE id = 1"); err != nil {
			t.Errorf("UPDATE as write: %v", err)
		}
	})

	t.Run("Privileges", func(t *testing.T) {
		g := newGrant("tableread", time.Hour)
		cred := issue(t, p, g)
		if !canRead(t, cred) {
			t.Error("privileges grant cannot read items")
		}
		revoke(t, p, g)
		if roleExists(t, "stint_"+g.ID) {
			t.Error("role still exists after Revoke")
		}
		if acl := query(t, "SELECT relacl::text FROM pg_class WHERE relname = 'items'"); strings.Contains(acl, g.ID) {
			t.Errorf("items ACL still names the role: %s", acl)
		}
	})

	t.Run("ConnectionLimit", func(t *testing.T) {
		g := newGrant("limited", time.Hour)
		cred := issue(t, p, g)
		defer revoke(t, p, g)
		c1, err := connect(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close(ctx)
		if c2, err := connect(ctx, cred); err == nil {
			c2.Close(ctx)
			t.Error("second session allowed with connection_limit 1")
		}
	})

	t.Run("ReissueReplacesPassword", func(t *testing.T) {
		g := newGrant("readonly", time.Hour)
		first := issue(t, p, g)
		second := issue(t, p, g.Clone())
		defer revoke(t, p, g)
		if first.Env[postgres.EnvPassword] == second.Env[postgres.EnvPassword] {
			t.Error("re-issue returned the same password")
		}
		if canRead(t, first) || !canRead(t, second) {
			t.Error("after re-issue, want only the new password to work")
		}
	})

	t.Run("OwnedObjectsReassigned", func(t *testing.T) {
		g := newGrant("owner", time.Hour)
		cred := issue(t, p, g)
		conn, err := connect(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE made_by_grant (x int)"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		revoke(t, p, g)
		if owner := query(t, "SELECT tableowner::text FROM pg_tables WHERE tablename = 'made_by_grant'"); owner != "postgres" {
			t.Errorf("made_by_grant owner = %q, want postgres (reassign_to default)", owner)
		}
	})
}

func TestProvider_Revoke(t *testing.T) {
	p := newProvider(t, "stint_", "")
	ctx := ctxT(t)

	t.Run("TerminatesSessions", func(t *testing.T) {
		g := newGrant("readonly", time.Hour)
		cred := issue(t, p, g)
		conn, err := connect(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		revoke(t, p, g)
		if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
			t.Error("open session still works after Revoke")
		}
		if canRead(t, cred) {
			t.Error("login works after Revoke")
		}
		if roleExists(t, "stint_"+g.ID) {
			t.Error("role still exists")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		g := newGrant("readonly", time.Hour)
		issue(t, p, g)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = p.Revoke(ctx, g.Clone()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Revoke %d: %v", i, err)
			}
		}
	})
}

func TestProvider_Expiry(t *testing.T) {
	p := newProvider(t, "stint_", "")
	g := newGrant("readonly", 2*time.Second)
	cred := issue(t, p, g)
	defer revoke(t, p, g)
	if !canRead(t, cred) {
		t.Fatal("credential does not work before expiry")
	}
	// VALID UNTIL is enforced by the server's own clock: real time must pass.
	time.Sleep(time.Until(*g.ExpiresAt) + 200*time.Millisecond)
	if canRead(t, cred) {
		t.Error("login works after VALID UNTIL")
	}
}

func TestProvider_Renew(t *testing.T) {
	p := newProvider(t, "stint_", "")
	g := newGrant("readonly", time.Hour)
	issue(t, p, g)
	defer revoke(t, p, g)
	next := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := p.Renew(ctxT(t), g, next); err != nil {
		t.Fatal(err)
	}
	got := query(t, "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM pg_roles WHERE rolname = $1", "stint_"+g.ID)
	if got != "2099-01-02 03:04:05" {
		t.Errorf("VALID UNTIL = %q after Renew", got)
	}
	gone := newGrant("readonly", time.Hour)
	if err := p.Renew(ctxT(t), gone, next); stint.ErrorCode(err) != stint.ENOTFOUND {
		t.Errorf("Renew of a grant never issued: %v, want ENOTFOUND", err)
	}
}

func TestProvider_Elevate(t *testing.T) {
	p := newProvider(t, "stint_", "")
	before := query(t, "SELECT rolpassword FROM pg_authid WHERE rolname = 'backup_svc'")
	g1 := newGrant("backup", time.Hour)
	g2 := newGrant("backupw", time.Hour)

	cred := issue(t, p, g1)
	if cred.Env[postgres.EnvUser] != "backup_svc" || cred.Env[postgres.EnvPassword] != "" {
		t.Errorf("elevation credential: PGUSER %q, PGPASSWORD set %v", cred.Env[postgres.EnvUser], cred.Env[postgres.EnvPassword] != "")
	}
	if !isMember(t, "backup_svc", "app_reader") {
		t.Fatal("backup_svc is not a member of app_reader after Issue")
	}
	issue(t, p, g2)
	issue(t, p, g2.Clone()) // idempotent
	if !isMember(t, "backup_svc", "app_writer") {
		t.Fatal("backup_svc is not a member of app_writer")
	}

	revoke(t, p, g1)
	if !isMember(t, "backup_svc", "app_reader") {
		t.Error("revoking the first grant took app_reader from the second")
	}
	revoke(t, p, g2)
	revoke(t, p, g2) // idempotent
	if isMember(t, "backup_svc", "app_reader") || isMember(t, "backup_svc", "app_writer") {
		t.Error("memberships remain after the last grant ended")
	}
	if after := query(t, "SELECT rolpassword FROM pg_authid WHERE rolname = 'backup_svc'"); after != before {
		t.Error("elevation changed backup_svc's password")
	}
	// The workload still logs in with its own password.
	u, _ := url.Parse(cred.Env[postgres.EnvURL])
	u.User = url.UserPassword("backup_svc", backupPassword)
	conn, err := pgx.Connect(ctxT(t), u.String())
	if err != nil {
		t.Fatalf("backup_svc login with its own password: %v", err)
	}
	conn.Close(context.Background())

	t.Run("StandingMembershipKept", func(t *testing.T) {
		if err := server.ExecDB(ctxT(t), "app", "GRANT app_reader TO backup_svc"); err != nil {
			t.Fatal(err)
		}
		defer server.ExecDB(context.Background(), "app", "REVOKE app_reader FROM backup_svc")
		g := newGrant("backup", time.Hour)
		issue(t, p, g)
		revoke(t, p, g)
		if !isMember(t, "backup_svc", "app_reader") {
			t.Error("revocation took back a membership that was standing before the grant")
		}
	})

	t.Run("Usage", func(t *testing.T) {
		_, _, err := p.Used(ctxT(t), g1)
		if !errors.Is(err, postgres.ErrUsageUnobservable) {
			t.Errorf("Used(elevation) = %v, want ErrUsageUnobservable", err)
		}
	})
}
