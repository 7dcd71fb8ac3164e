package postgres

import (
	"context"
	"sort"
	"strings"

	"github.com/stint-io/stint"
)

// Revoke removes the access of g; it returns nil if it is already gone. For
// an ephemeral role: no more logins, its sessions terminated, what it owns
// reassigned to reassign_to, its privileges dropped, the role dropped. For
// an elevation: the memberships no other grant still holds are taken back.
// A grant of a role no longer configured gets both. Returns EUNAVAILABLE if
// the server fails (the caller retries).
func (p *Provider) Revoke(ctx context.Context, g *stint.Grant) error {
	p.forget(g.ID)
	r, known := p.cfg.roles[g.Role()]
	mode := g.ProviderData[DataMode]
	if !known || r.elevate == "" || mode == ModeEphemeral {
		if err := p.dropRole(ctx, p.RoleName(g.ID)); err != nil {
			return err
		}
	}
	if !known || r.elevate != "" || mode == ModeElevate {
		return p.unelevate(ctx, g.ID)
	}
	return nil
}

// dropRole tears down the ephemeral role name; a missing role is success.
//
// One round trip: NOLOGIN is committed first so that no session can start
// between the terminations and the drop; the rest is one transaction.
func (p *Provider) dropRole(ctx context.Context, name string) error {
	if len(name) > MaxIdentifierLength {
		return nil // PostgreSQL cannot hold such a role
	}
	ident := quoteIdent(name)
	sql := "BEGIN; ALTER ROLE " + ident + " NOLOGIN; COMMIT; " +
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = " + quoteLiteral(name) + "; " +
		"REASSIGN OWNED BY " + ident + " TO " + quoteIdent(p.cfg.reassignTo) + "; " +
		"DROP OWNED BY " + ident + "; " +
		"DROP ROLE IF EXISTS " + ident
	_, err := p.pool.Exec(ctx, sql, simple)
	if err == nil {
		return nil
	}
	if pgCode(err) == codeUndefinedObject {
		// Gone already, or dropped by a concurrent revocation: success,
		// unless the role is still there (another object was missing, such
		// as the reassign_to role, and the teardown stopped half way).
		var n int
		if qerr := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1`, name).Scan(&n); qerr != nil {
			return p.dbError("cannot check the grant's role", qerr)
		}
		if n == 0 {
			return nil
		}
	}
	return p.dbError("cannot drop the grant's role", err)
}

// RemoveOrphan removes what grant id left on the server: the role
// role_prefix+id (whatever id is, since List reports every role with the
// prefix) and its elevation records and memberships. Idempotent. Returns
// EUNAVAILABLE if the server fails.
func (p *Provider) RemoveOrphan(ctx context.Context, grantID string) error {
	p.forget(grantID)
	if err := p.dropRole(ctx, p.RoleName(grantID)); err != nil {
		return err
	}
	return p.unelevate(ctx, grantID)
}

// List returns the grant ids that have something on the server: the suffix
// of every role named with role_prefix (even when it is not a valid grant
// id: the prefix is reserved for Stint) and every grant with elevation
// records. Sorted, without duplicates. Returns EUNAVAILABLE if the server
// fails.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	rows, err := p.pool.Query(ctx,
		`SELECT rolname FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1)`, p.cfg.prefix)
	if err != nil {
		return nil, p.dbError("cannot list roles", err)
	}
	set := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, p.dbError("cannot list roles", err)
		}
		if id := strings.TrimPrefix(name, p.cfg.prefix); id != "" {
			set[id] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, p.dbError("cannot list roles", err)
	}
	ids, err := p.elevationGrants(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}
