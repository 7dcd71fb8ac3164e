package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/provider/postgres"
)

func TestProvider_List(t *testing.T) {
	p := newProvider(t, "rec_", "")
	ctx := ctxT(t)
	valid := stint.NewID(time.Now())
	server.Exec(t, "CREATE ROLE rec_garbage LOGIN; CREATE ROLE rec_"+valid+" LOGIN")

	// A simulated crash: issued, then forgotten (no Revoke, no grant stored).
	crashed := newGrant("readonly", time.Hour)
	issue(t, p, crashed)
	elevated := newGrant("backup", time.Hour)
	issue(t, p, elevated)

	ids, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"garbage", valid, crashed.ID, elevated.ID} {
		if !contains(ids, want) {
			t.Errorf("List = %v, missing %s", ids, want)
		}
	}
	// A restarted provider (nothing in memory) finds the same.
	p2 := newProvider(t, "rec_", "")
	again, err := p2.List(ctx)
	if err != nil || len(again) != len(ids) {
		t.Errorf("List after restart = %v, %v; want %v", again, err, ids)
	}
	for _, id := range ids {
		if err := p2.RemoveOrphan(ctx, id); err != nil {
			t.Errorf("RemoveOrphan(%s): %v", id, err)
		}
	}
	if ids, err := p2.List(ctx); err != nil || len(ids) != 0 {
		t.Errorf("List after RemoveOrphan = %v, %v; want empty", ids, err)
	}
	for _, r := range []string{"rec_garbage", "rec_" + valid, "rec_" + crashed.ID} {
		if roleExists(t, r) {
			t.Errorf("role %s survived RemoveOrphan", r)
		}
	}
	if isMember(t, "backup_svc", "app_reader") {
		t.Error("elevation survived RemoveOrphan")
	}
	if err := p2.RemoveOrphan(ctx, "garbage"); err != nil {
		t.Errorf("RemoveOrphan again: %v", err)
	}
}

func TestProvider_PasswordNeverLogged(t *testing.T) {
	server.Exec(t, "ALTER SYSTEM SET log_statement = 'all'")
	server.Exec(t, "SELECT pg_reload_conf()")
	t.Cleanup(func() {
		server.Exec(t, "ALTER SYSTEM RESET log_statement")
		server.Exec(t, "SELECT pg_reload_conf()")
	})
	p := newProvider(t, "stint_", "")
	var passwords []string
	for _, role := range []string{"readonly", "tableread"} {
		g := newGrant(role, time.Hour)
		cred := issue(t, p, g)
		passwords = append(passwords, cred.Env[postgres.EnvPassword])
		again := issue(t, p, g.Clone()) // the ALTER ROLE path
		passwords = append(passwords, again.Env[postgres.EnvPassword])
		revoke(t, p, g)
	}
	log, err := server.ServerLog()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, fmt.Sprintf("SCRAM-SHA-256$%d:", postgres.ScramIterations)) {
		t.Fatal("the server log does not show the statements; log_statement did not apply")
	}
	for _, pw := range passwords {
		if strings.Contains(log, pw) {
			t.Error("a plaintext password is in the server log")
		}
	}
}

func TestProvider_BadInput(t *testing.T) {
	ctx := ctxT(t)

	t.Run("Unreachable", func(t *testing.T) {
		doc := "provider: postgres\ndsn: postgres://admin:hunter2-secret@127.0.0.1:1/app?sslmode=disable&connect_timeout=2\n" + baseRoles
		p, err := postgres.Open(spec("down-db", doc))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		g := newGrant("readonly", time.Hour)
		g.Access = "down-db/readonly"
		_, err = p.Issue(ctx, g)
		if err == nil {
			t.Fatal("Issue against an unreachable server succeeded")
		}
		if stint.IsPermanent(err) || stint.ErrorCode(err) != stint.EUNAVAILABLE {
			t.Errorf("error %v: want transient EUNAVAILABLE", err)
		}
		for _, secret := range []string{"hunter2", "admin"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q from the DSN", err, secret)
			}
		}
		t.Logf("message: %s", stint.ErrorMessage(err))
		if !strings.Contains(stint.ErrorMessage(err), "cannot connect") {
			t.Errorf("message %q does not say it cannot connect", stint.ErrorMessage(err))
		}
		if roleExists(t, "stint_"+g.ID) {
			t.Error("a role was created")
		}
	})

	t.Run("MissingGrantRole", func(t *testing.T) {
		p := newProvider(t, "stint_", "")
		extra := "provider: postgres\ndsn: " + fmt.Sprintf("%q", server.DSN("app")) +
			"\nroles:\n  ghost: { grant: [app_reader, no_such_role] }\n  ghostup: { elevate: backup_svc, grant: [no_such_role] }\n  ghosttable: { privileges: [\"GRANT SELECT ON no_such_table TO {{role}}\"] }\n"
		q, err := postgres.Open(spec("app-db", extra))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		for _, role := range []string{"ghost", "ghostup", "ghosttable"} {
			g := newGrant(role, time.Hour)
			_, err := q.Issue(ctx, g)
			if !stint.IsPermanent(err) {
				t.Errorf("%s: Issue error %v, want permanent", role, err)
			}
			if !strings.Contains(stint.ErrorMessage(err), "no_such") {
				t.Errorf("%s: message %q does not name the missing object", role, stint.ErrorMessage(err))
			}
			if roleExists(t, "stint_"+g.ID) {
				t.Errorf("%s: role left behind", role)
			}
			if err := q.Revoke(ctx, g); err != nil { // what the broker does after a failed issue
				t.Errorf("%s: Revoke after failed Issue: %v", role, err)
			}
		}
		err = q.CheckRoles(ctx)
		var fe stint.FieldErrors
		if !errors.As(err, &fe) || len(fe) != 2 || fe[0].Field != "roles.ghost.grant" || fe[1].Field != "roles.ghostup.grant" {
			t.Errorf("CheckRoles = %v, want errors at roles.ghost.grant and roles.ghostup.grant", err)
		}
		if err := p.CheckRoles(ctx); err != nil {
			t.Errorf("CheckRoles of the base roles: %v", err)
		}
	})

	t.Run("GrantShape", func(t *testing.T) {
		p := newProvider(t, "stint_", "")
		for name, g := range map[string]*stint.Grant{
			"NoExpiry": func() *stint.Grant { g := newGrant("readonly", time.Hour); g.ExpiresAt = nil; return g }(),
			"Expired":  newGrant("readonly", -time.Minute),
			"BadID": func() *stint.Grant {
				g := newGrant("readonly", time.Hour)
				g.ID = `x"; DROP ROLE postgres; --`
				return g
			}(),
			"NoSuchRole": func() *stint.Grant { g := newGrant("nope", time.Hour); return g }(),
		} {
			if _, err := p.Issue(ctx, g); !stint.IsPermanent(err) || stint.ErrorCode(err) != stint.EINVALID {
				t.Errorf("%s: Issue = %v, want permanent EINVALID", name, err)
			}
		}
	})
}

func TestFactory_Validate(t *testing.T) {
	f := postgres.NewFactory()
	dsn := "dsn: postgres://admin:s3cret-pw@db.example:5432/app\n"
	long := strings.Repeat("x", 64)
	tests := []struct {
		name, doc string
		fields    []string // want errors at these fields; none: valid
	}{
		{"Valid", dsn + "roles: { ro: { grant: [pg_read_all_data] } }", nil},
		{"MissingDSN", "roles: { ro: { grant: [r] } }", []string{"dsn"}},
		{"BadDSN", "dsn: 'postgres://a:s3cret-pw@host:notaport/db'\nroles: { ro: { grant: [r] } }", []string{"dsn"}},
		{"NoRoles", dsn, []string{"roles"}},
		{"EmptyRole", dsn + "roles: { ro: {} }", []string{"roles.ro"}},
		{"LongIdentifier", dsn + "roles: { ro: { grant: [" + long + "] } }", []string{"roles.ro.grant"}},
		{"EmptyIdentifier", dsn + "roles: { ro: { grant: [''] } }", []string{"roles.ro.grant"}},
		{"BadPrefix", dsn + "role_prefix: 'Stint-'\nroles: { ro: { grant: [r] } }", []string{"role_prefix"}},
		{"PgPrefix", dsn + "role_prefix: pg_x_\nroles: { ro: { grant: [r] } }", []string{"role_prefix"}},
		{"PrivilegeWithoutRole", dsn + "roles: { ro: { privileges: ['GRANT SELECT ON t TO bob'] } }", []string{"roles.ro.privileges"}},
		{"ElevateWithoutGrant", dsn + "roles: { b: { elevate: backup_svc } }", []string{"roles.b.grant"}},
		{"ElevateWithPrivileges", dsn + "roles: { b: { elevate: svc, grant: [r], privileges: ['GRANT x TO {{role}}'] } }", []string{"roles.b.privileges"}},
		{"NegativeLimit", dsn + "roles: { ro: { grant: [r], connection_limit: -2 } }", []string{"roles.ro.connection_limit"}},
		{"ShortInterval", dsn + "usage_interval: 10ms\nroles: { ro: { grant: [r] } }", []string{"usage_interval"}},
		{"BadMaxConns", dsn + "max_conns: -1\nroles: { ro: { grant: [r] } }", []string{"max_conns"}},
		{"BadPort", dsn + "port: 70000\nroles: { ro: { grant: [r] } }", []string{"port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Validate(spec("db", tt.doc))
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe stint.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want FieldErrors", err)
			}
			var got []string
			for _, e := range fe {
				got = append(got, e.Field)
			}
			for _, want := range tt.fields {
				if !contains(got, want) {
					t.Errorf("errors at %v, want one at %s (%v)", got, want, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the DSN's password", err)
			}
		})
	}
	t.Run("UnknownField", func(t *testing.T) {
		if err := f.Validate(spec("db", dsn+"roles: { ro: { grant: [r], grnat: [x] } }")); err == nil {
			t.Error("unknown field accepted")
		}
	})
}

func TestProvider_Used(t *testing.T) {
	clock := clocktest.New(time.Now())
	doc := fmt.Sprintf("provider: postgres\ndsn: %q\nrole_prefix: use_\nusage_interval: 10s\n%s", server.DSN("app"), baseRoles)
	sp := spec("app-db", doc)
	sp.Clock = clock
	p, err := postgres.Open(sp)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxT(t)

	used, unused := newGrant("readonly", time.Hour), newGrant("readonly", time.Hour)
	cred := issue(t, p, used)
	issue(t, p, unused)
	conn, err := connect(ctx, cred)
	if err != nil {
		t.Fatal(err)
	}
	// Drive the sampler: wait for its timer, fire it, wait for it to re-arm.
	if err := clock.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	arms := clock.Arms()
	clock.Add(10 * time.Second)
	if err := clock.WaitForArms(ctx, arms+1); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	if ok, at, err := p.Used(ctx, used); err != nil || !ok || !at.Equal(clock.Now().UTC()) {
		t.Errorf("Used(used) = %v, %v, %v; want true at %v", ok, at, err, clock.Now())
	}
	if ok, _, err := p.Used(ctx, unused); err != nil || ok {
		t.Errorf("Used(unused) = %v, %v; want false", ok, err)
	}
	revoke(t, p, used)
	revoke(t, p, unused)

	// A restarted provider still knows, from the bookkeeping table.
	q := newProvider(t, "use_", "")
	if ok, _, err := q.Used(ctx, used); err != nil || !ok {
		t.Errorf("Used after restart = %v, %v; want true", ok, err)
	}
}

func TestProvider_Discover(t *testing.T) {
	p := newProvider(t, "stint_", "")
	g := newGrant("readonly", time.Hour)
	issue(t, p, g)
	defer revoke(t, p, g)
	e := newGrant("backup", time.Hour)
	issue(t, p, e)
	defer revoke(t, p, e)

	found, err := p.Discover(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	has := func(principal, privilege, detail string) bool {
		for _, s := range found {
			if s.Principal == principal && s.Privilege == privilege && strings.Contains(s.Detail, detail) && s.Resource == "app-db" {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ principal, privilege, detail string }{
		{"standing_user", postgres.PrivilegeMember, "app_reader"},
		{"nested_user", postgres.PrivilegeMember, "nested_user > nested_group > app_writer"},
		{"standing_user", postgres.PrivilegeNoExpiry, ""},
		{"postgres", postgres.PrivilegeSuperuser, "admin role"},
	} {
		if !has(want.principal, want.privilege, want.detail) {
			t.Errorf("Discover lacks %+v; got %+v", want, found)
		}
	}
	for _, s := range found {
		if strings.HasPrefix(s.Principal, "stint_") {
			t.Errorf("Discover lists Stint's own role %+v", s)
		}
		if s.Principal == "nested_user" && s.Privilege == postgres.PrivilegeNoExpiry {
			t.Error("nested_user has VALID UNTIL but is listed as without expiry")
		}
		if s.Principal == "backup_svc" && s.Privilege == postgres.PrivilegeMember {
			t.Errorf("a live elevation is listed as standing: %+v", s)
		}
	}
}

func TestScramVerifier(t *testing.T) {
	v := postgres.ScramVerifier("pencil")
	if !strings.HasPrefix(v, fmt.Sprintf("SCRAM-SHA-256$%d:", postgres.ScramIterations)) || strings.Count(v, "$") != 2 || strings.Count(v, ":") != 2 {
		t.Errorf("verifier %q has the wrong shape", v)
	}
	if v == postgres.ScramVerifier("pencil") {
		t.Error("two verifiers of one password share a salt")
	}
	if strings.Contains(v, "pencil") {
		t.Error("verifier contains the password")
	}
}
