package postgres

import (
	"context"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// Privileges reported by Discover.
const (
	PrivilegeMember    = "member"    // Detail: the role granted, and the path
	PrivilegeSuperuser = "superuser" // can log in as a superuser
	PrivilegeNoExpiry  = "no-expiry" // can log in with no VALID UNTIL
)

// Discover lists the standing privileges on the server: login roles that
// are members, directly or through other roles, of a role that a Stint role
// of this resource grants (one entry per granted role reached); login
// superusers; login roles without VALID UNTIL. Stint's own ephemeral roles
// (role_prefix) and memberships held only through live elevations are left
// out; the admin role of the DSN is included, marked in Detail. Sorted by
// principal then privilege. Returns EUNAVAILABLE if the server fails.
func (p *Provider) Discover(ctx context.Context) ([]stint.StandingPrivilege, error) {
	granted := map[string]bool{}
	for _, r := range p.cfg.roles {
		for _, g := range r.grant {
			granted[g] = true
		}
	}
	temporary, err := p.elevatedMemberships(ctx)
	if err != nil {
		return nil, err
	}
	out := []stint.StandingPrivilege{}
	add := func(principal, privilege, detail string) {
		if principal == p.cfg.adminUser {
			if detail != "" {
				detail += "; "
			}
			detail += "the admin role of this resource (Stint's own)"
		}
		out = append(out, stint.StandingPrivilege{Resource: p.cfg.resource, Principal: principal, Privilege: privilege, Detail: detail})
	}

	// Memberships: walk pg_auth_members up from each login role.
	rows, err := p.pool.Query(ctx, `WITH RECURSIVE up(member, roleid, path) AS (
			SELECT m.member, m.roleid, ARRAY[m.roleid] FROM pg_catalog.pg_auth_members m
		  UNION
			SELECT up.member, m.roleid, up.path || m.roleid FROM up
			JOIN pg_catalog.pg_auth_members m ON m.member = up.roleid
			WHERE NOT m.roleid = ANY(up.path)
		)
		SELECT DISTINCT ON (l.rolname, g.rolname) l.rolname, g.rolname,
			array_to_string(ARRAY(SELECT r.rolname FROM unnest(up.path) WITH ORDINALITY AS x(oid, n)
				JOIN pg_catalog.pg_roles r ON r.oid = x.oid ORDER BY x.n), ' > ')
		FROM up
		JOIN pg_catalog.pg_roles l ON l.oid = up.member
		JOIN pg_catalog.pg_roles g ON g.oid = up.roleid
		WHERE l.rolcanlogin AND g.rolname = ANY($1) AND NOT starts_with(l.rolname, $2)
		ORDER BY l.rolname, g.rolname, array_length(up.path, 1)`, stint.SortedKeys(granted), p.cfg.prefix)
	if err != nil {
		return nil, p.dbError("cannot discover memberships", err)
	}
	type membership struct{ login, granted, path string }
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (membership, error) {
		var m membership
		err := r.Scan(&m.login, &m.granted, &m.path)
		return m, err
	})
	if err != nil {
		return nil, p.dbError("cannot discover memberships", err)
	}
	for _, m := range ms {
		// Only a direct membership can be Stint's temporary one.
		if temporary[m.login+"\x00"+m.granted] && !strings.Contains(m.path, " > ") {
			continue
		}
		add(m.login, PrivilegeMember, "member of "+m.granted+" via "+m.login+" > "+m.path)
	}

	rows, err = p.pool.Query(ctx, `SELECT rolname, rolsuper, rolvaliduntil IS NULL OR rolvaliduntil = 'infinity'
		FROM pg_catalog.pg_roles WHERE rolcanlogin AND NOT starts_with(rolname, $1) ORDER BY rolname`, p.cfg.prefix)
	if err != nil {
		return nil, p.dbError("cannot discover login roles", err)
	}
	type login struct {
		name         string
		super, noExp bool
	}
	ls, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (login, error) {
		var l login
		err := r.Scan(&l.name, &l.super, &l.noExp)
		return l, err
	})
	if err != nil {
		return nil, p.dbError("cannot discover login roles", err)
	}
	for _, l := range ls {
		if l.super {
			add(l.name, PrivilegeSuperuser, "")
		}
		if l.noExp {
			add(l.name, PrivilegeNoExpiry, "login role without VALID UNTIL")
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Principal != out[j].Principal {
			return out[i].Principal < out[j].Principal
		}
		return out[i].Privilege < out[j].Privilege
	})
	return out, nil
}

// elevatedMemberships returns "target\x00granted" for memberships that
// live elevations hold and that were not standing before them.
func (p *Provider) elevatedMemberships(ctx context.Context) (map[string]bool, error) {
	if err := p.ensureSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, "SELECT DISTINCT target_role, granted_role FROM "+
		p.table("elevations")+" WHERE NOT preexisting")
	if err != nil {
		return nil, p.dbError("cannot read elevations", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var target, granted string
		err := r.Scan(&target, &granted)
		return target + "\x00" + granted, err
	})
	if err != nil {
		return nil, p.dbError("cannot read elevations", err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// CheckRoles checks that every role named in grant or elevate, and
// reassign_to, exists on the server. Returns stint.FieldErrors naming each
// missing role ("roles.NAME.grant"), or EUNAVAILABLE if the server cannot be
// reached.
func (p *Provider) CheckRoles(ctx context.Context) error {
	fields := map[string][]string{} // role name → fields naming it
	for _, name := range stint.SortedKeys(p.cfg.roles) {
		r := p.cfg.roles[name]
		for _, g := range r.grant {
			fields[g] = append(fields[g], "roles."+name+".grant")
		}
		if r.elevate != "" {
			fields[r.elevate] = append(fields[r.elevate], "roles."+name+".elevate")
		}
	}
	if p.cfg.reassignTo != "" {
		fields[p.cfg.reassignTo] = append(fields[p.cfg.reassignTo], "reassign_to")
	}
	names := stint.SortedKeys(fields)
	rows, err := p.pool.Query(ctx, `SELECT n FROM unnest($1::text[]) AS n
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = n) ORDER BY n`, names)
	if err != nil {
		return p.dbError("cannot check roles", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return p.dbError("cannot check roles", err)
	}
	var errs stint.FieldErrors
	for _, m := range missing {
		for _, f := range fields[m] {
			errs.Add(f, "role %q does not exist on the server", m)
		}
	}
	return errs.Err()
}
