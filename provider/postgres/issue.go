package postgres

import (
	"context"
	"hash/fnv"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// roleVar is the placeholder of the role's quoted name in privileges statements.
const roleVar = "{{role}}"

// simple runs statements without bind parameters: utility statements take
// none, each text is unique (no point preparing it), and several
// statements may go in one round trip.
var simple = pgx.QueryExecModeSimpleProtocol

// Issue creates the access of g until *g.ExpiresAt and returns the
// credential; it sets g.ProviderData["role"] and ["mode"]. For an ephemeral
// role it creates (or, when the grant is issued again, updates with a new
// password and expiry) the login role role_prefix+g.ID; for elevation it
// grants the roles to the existing role. Errors:
//   - an unknown role, a grant without a valid id or expiry: permanent EINVALID;
//   - a role in grant or elevate that does not exist, or a privileges
//     statement the server rejects: permanent EUNAVAILABLE naming it;
//   - an unreachable server or any other failure: transient EUNAVAILABLE.
//
// Nothing remains on the server after a failed Issue, except an updated
// expiry when re-issuing an existing grant fails midway.
func (p *Provider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	r, err := p.role(g)
	if err != nil {
		return nil, err
	}
	if !stint.ValidID(g.ID) {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant id %q is not valid", g.ID))
	}
	if g.ExpiresAt == nil {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has no expiry", g.ID))
	}
	exp := *g.ExpiresAt
	if !exp.After(p.clock.Now()) {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has already expired", g.ID))
	}
	if g.ProviderData == nil {
		g.ProviderData = map[string]string{}
	}
	if r.elevate != "" {
		if err := p.elevate(ctx, g.ID, r, exp); err != nil {
			return nil, err
		}
		g.ProviderData[DataRole], g.ProviderData[DataMode] = r.elevate, ModeElevate
		return p.credential(g.ID, exp, r.elevate, ""), nil
	}
	name := p.RoleName(g.ID)
	password := newPassword()
	if err := p.createRole(ctx, name, r, exp, ScramVerifier(password)); err != nil {
		return nil, err
	}
	g.ProviderData[DataRole], g.ProviderData[DataMode] = name, ModeEphemeral
	return p.credential(g.ID, exp, name, password), nil
}

// createRole creates the login role name, or updates it when it exists.
func (p *Provider) createRole(ctx context.Context, name string, r role, exp time.Time, verifier string) error {
	ident := quoteIdent(name)
	attrs := " LOGIN PASSWORD " + quoteLiteral(verifier) + " VALID UNTIL " + quoteLiteral(pgTime(exp))
	if r.connLimit > 0 {
		attrs += " CONNECTION LIMIT " + strconv.Itoa(r.connLimit)
	}
	create := "CREATE ROLE " + ident + " WITH" + attrs
	if len(r.grant) > 0 {
		create += " IN ROLE " + quoteIdents(r.grant)
	}
	err := p.roleTx(ctx, create, ident, r)
	if pgCode(err) == codeDuplicateObject {
		// Issued again (a retry after a crash): new password and expiry.
		alter := "ALTER ROLE " + ident + " WITH" + attrs
		if len(r.grant) > 0 {
			alter += "; GRANT " + quoteIdents(r.grant) + " TO " + ident
		}
		err = p.roleTx(ctx, alter, ident, r)
	}
	if err == nil {
		return nil
	}
	if pgCode(err) == codeUndefinedObject {
		return stint.Permanent(&stint.Error{
			Code:    stint.EUNAVAILABLE,
			Message: "postgres resource " + p.cfg.resource + ": " + safeError(err).Error() + "; check the role's grant list",
		})
	}
	return p.dbError("cannot create the grant's role", err)
}

// roleTx runs head (one or more statements creating or altering the role)
// and the role's privileges statements in one transaction. Without
// privileges it is one round trip.
func (p *Provider) roleTx(ctx context.Context, head, ident string, r role) error {
	if len(r.privileges) == 0 {
		_, err := p.pool.Exec(ctx, head, simple)
		return err
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, head, simple); err != nil {
			return err
		}
		for _, stmt := range r.privileges {
			// Statements on one object serialise: concurrent GRANTs on one
			// table fail with "tuple concurrently updated".
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("privileges", stmt)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, strings.ReplaceAll(stmt, roleVar, ident), simple); err != nil {
				return err
			}
		}
		return nil
	})
}

// Renew moves the expiry of g's access to expiresAt: VALID UNTIL of an
// ephemeral role, the recorded expiry of an elevation. Returns a permanent
// ENOTFOUND if the ephemeral role no longer exists, and EUNAVAILABLE if the
// server fails.
func (p *Provider) Renew(ctx context.Context, g *stint.Grant, expiresAt time.Time) error {
	if p.isElevation(g) {
		if err := p.ensureSchema(ctx); err != nil {
			return err
		}
		_, err := p.pool.Exec(ctx, "UPDATE "+p.table("elevations")+" SET expires_at = $2 WHERE grant_id = $1", g.ID, expiresAt)
		if err != nil {
			return p.dbError("cannot renew the elevation", err)
		}
		return nil
	}
	name := p.RoleName(g.ID)
	_, err := p.pool.Exec(ctx, "ALTER ROLE "+quoteIdent(name)+" VALID UNTIL "+quoteLiteral(pgTime(expiresAt)), simple)
	if pgCode(err) == codeUndefinedObject {
		return stint.Permanent(stint.Errorf(stint.ENOTFOUND, "postgres resource %s: the role of grant %s no longer exists", p.cfg.resource, g.ID))
	}
	if err != nil {
		return p.dbError("cannot renew the grant's role", err)
	}
	return nil
}

// isElevation reports whether g is an elevation grant, by its role's
// configuration or, for a role no longer configured, by what Issue recorded.
func (p *Provider) isElevation(g *stint.Grant) bool {
	if r, ok := p.cfg.roles[g.Role()]; ok {
		return r.elevate != ""
	}
	return g.ProviderData[DataMode] == ModeElevate
}

// credential builds the credential for user (password empty: none).
func (p *Provider) credential(id string, exp time.Time, user, password string) *stint.Credential {
	port := strconv.Itoa(p.cfg.port)
	env := map[string]string{
		EnvHost:     p.cfg.host,
		EnvPort:     port,
		EnvDatabase: p.cfg.database,
		EnvUser:     user,
	}
	u := &url.URL{Scheme: "postgres", Path: "/" + p.cfg.database}
	if password != "" {
		env[EnvPassword] = password
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	q := url.Values{"sslmode": {p.cfg.sslmode}}
	if strings.HasPrefix(p.cfg.host, "/") { // a unix socket directory
		q.Set("host", p.cfg.host)
		q.Set("port", port)
	} else {
		u.Host = net.JoinHostPort(p.cfg.host, port)
	}
	u.RawQuery = q.Encode()
	env[EnvURL] = u.String()
	return &stint.Credential{GrantID: id, ExpiresAt: exp, Env: env}
}

// pgTime formats t for VALID UNTIL (microseconds, UTC, never rounded up).
func pgTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02 15:04:05.999999Z07:00")
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

func quoteIdents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// quoteLiteral quotes s as a standard SQL string literal
// (standard_conforming_strings is on since PostgreSQL 9.1).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// lockKey returns an advisory lock key for (kind, name).
func lockKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("stint/" + kind + "/" + name))
	return int64(h.Sum64())
}
