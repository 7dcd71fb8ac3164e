package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// table returns the quoted name of a bookkeeping table.
func (p *Provider) table(name string) string {
	return quoteIdent(p.cfg.schema) + "." + quoteIdent(name)
}

// ensureSchema creates the bookkeeping schema and tables once per provider.
// Several Stint servers may do it at once: an advisory lock serialises them.
func (p *Provider) ensureSchema(ctx context.Context) error {
	if p.schemaOK.Load() {
		return nil
	}
	p.schemaMu.Lock()
	defer p.schemaMu.Unlock()
	if p.schemaOK.Load() {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("schema", p.cfg.schema)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(p.cfg.schema)+"; "+
			"CREATE TABLE IF NOT EXISTS "+p.table("elevations")+" ("+
			"grant_id text NOT NULL, target_role text NOT NULL, granted_role text NOT NULL, "+
			"expires_at timestamptz NOT NULL, preexisting boolean NOT NULL DEFAULT false, "+
			"PRIMARY KEY (grant_id, granted_role)); "+
			"CREATE INDEX IF NOT EXISTS elevations_membership ON "+p.table("elevations")+" (target_role, granted_role); "+
			"CREATE TABLE IF NOT EXISTS "+p.table("usage")+" ("+
			"grant_id text PRIMARY KEY, last_seen timestamptz NOT NULL)", simple)
		return err
	})
	if err != nil {
		return p.dbError("cannot create the bookkeeping schema "+p.cfg.schema, err)
	}
	p.schemaOK.Store(true)
	return nil
}

// errMissingRole reports a configured role missing on the server.
type errMissingRole struct{ role string }

func (e *errMissingRole) Error() string { return "role " + e.role + " does not exist" }

// elevate grants r.grant to r.elevate for grant id, recording each
// membership in the transaction that grants it. Issuing again updates the
// expiry. Serialised per target role by an advisory lock.
func (p *Provider) elevate(ctx context.Context, id string, r role, exp time.Time) error {
	if err := p.ensureSchema(ctx); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("elevate", r.elevate)); err != nil {
			return err
		}
		names := append([]string{r.elevate}, r.grant...)
		var missing []string
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(n), '{}') FROM unnest($1::text[]) AS n
			WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = n)`, names).Scan(&missing); err != nil {
			return err
		}
		if len(missing) > 0 {
			return &errMissingRole{role: missing[0]}
		}
		for _, granted := range r.grant {
			// A membership held before Stint's first grant is standing
			// access that Stint must never take back.
			var pre bool
			err := tx.QueryRow(ctx, `SELECT coalesce(
				(SELECT bool_or(preexisting) FROM `+p.table("elevations")+` WHERE target_role = $1 AND granted_role = $2),
				EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
					JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
					JOIN pg_catalog.pg_roles t ON t.oid = m.member
					WHERE g.rolname = $2 AND t.rolname = $1))`, r.elevate, granted).Scan(&pre)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+p.table("elevations")+
				` (grant_id, target_role, granted_role, expires_at, preexisting) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (grant_id, granted_role) DO UPDATE SET expires_at = excluded.expires_at`,
				id, r.elevate, granted, exp, pre); err != nil {
				return err
			}
			if !pre {
				if _, err := tx.Exec(ctx, "GRANT "+quoteIdent(granted)+" TO "+quoteIdent(r.elevate), simple); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var mr *errMissingRole
	if errors.As(err, &mr) {
		return stint.Permanent(stint.Errorf(stint.EUNAVAILABLE,
			"postgres resource %s: role %q does not exist on the server; check the role's elevate and grant", p.cfg.resource, mr.role))
	}
	if err != nil {
		return p.dbError("cannot elevate "+r.elevate, err)
	}
	return nil
}

// unelevate deletes the elevation records of grant id and takes back each
// membership that no other grant still holds (and that was not standing
// before Stint). Idempotent.
func (p *Provider) unelevate(ctx context.Context, id string) error {
	if err := p.ensureSchema(ctx); err != nil {
		return err
	}
	var targets []string
	if err := p.pool.QueryRow(ctx, "SELECT coalesce(array_agg(DISTINCT target_role), '{}') FROM "+
		p.table("elevations")+" WHERE grant_id = $1", id).Scan(&targets); err != nil {
		return p.dbError("cannot read elevations", err)
	}
	for _, target := range targets {
		err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("elevate", target)); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "DELETE FROM "+p.table("elevations")+
				" WHERE grant_id = $1 AND target_role = $2 RETURNING granted_role, preexisting", id, target)
			if err != nil {
				return err
			}
			type rec struct {
				granted string
				pre     bool
			}
			var recs []rec
			for rows.Next() {
				var r rec
				if err := rows.Scan(&r.granted, &r.pre); err != nil {
					rows.Close()
					return err
				}
				recs = append(recs, r)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range recs {
				if r.pre {
					continue
				}
				// Keep the membership while another grant holds it; a role
				// dropped meanwhile has nothing left to take back.
				var needed bool
				if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM "+p.table("elevations")+
					" WHERE target_role = $1 AND granted_role = $2)"+
					" AND (SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname IN ($1, $2)) = 2",
					target, r.granted).Scan(&needed); err != nil {
					return err
				}
				if !needed {
					continue
				}
				if _, err := tx.Exec(ctx, "REVOKE "+quoteIdent(r.granted)+" FROM "+quoteIdent(target), simple); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return p.dbError("cannot take back the elevation of "+target, err)
		}
	}
	return nil
}

// elevationGrants returns the grant ids with elevation records.
func (p *Provider) elevationGrants(ctx context.Context) ([]string, error) {
	if err := p.ensureSchema(ctx); err != nil {
		return nil, err
	}
	var ids []string
	if err := p.pool.QueryRow(ctx, "SELECT coalesce(array_agg(DISTINCT grant_id), '{}') FROM "+
		p.table("elevations")).Scan(&ids); err != nil {
		return nil, p.dbError("cannot list elevations", err)
	}
	return ids, nil
}
