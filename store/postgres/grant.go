package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// Limits of ListGrants.
const (
	DefaultGrantLimit = 100
	MaxGrantLimit     = 1000
)

const insertGrantSQL = `INSERT INTO grants (` + grantCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25, $26, $27, $28, 1)
	ON CONFLICT (id) DO NOTHING`

// updateGrantSQL is the compare-and-set update: $1..$28 as grantArgs, $29
// the expected version. It clears any claim.
const updateGrantSQL = `UPDATE grants SET principal = $2, principal_kind = $3, access = $4, state = $5,
	policy = $6, reason = $7, ticket = $8, requested_ttl = $9, ttl = $10, max_ttl = $11,
	requested_at = $12, activated_at = $13, expires_at = $14, ended_at = $15, approvals = $16,
	approvals_required = $17, approvers = $18, approval_deadline = $19, window_ref = $20,
	break_glass = $21, provider = $22, revocation = $23, detail = $24, end_state = $25,
	attempts = $26, provider_data = $27, due_at = $28, claimed_until = NULL, version = version + 1
	WHERE id = $1 AND version = $29`

// CreateGrant inserts g with version 1 and appends rec (which may be nil) in
// the same transaction; g.Version is set to 1 once committed. Returns
// ECONFLICT if a grant with g.ID exists and EINVALID if g has no id.
func (s *Store) CreateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	if g == nil || g.ID == "" {
		return stint.Errorf(stint.EINVALID, "postgres: a grant needs an id")
	}
	args, err := grantArgs(g)
	if err != nil {
		return internal("postgres: create grant", err)
	}
	err = s.write(ctx, "create grant", func(ctx context.Context, w *wtx) error {
		if rec != nil {
			// The head first, always: transactions lock in one order.
			if err := w.lockHead(ctx); err != nil {
				return err
			}
		}
		tag, err := w.tx.Exec(ctx, insertGrantSQL, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return stint.Errorf(stint.ECONFLICT, "grant %s already exists", g.ID)
		}
		if rec != nil {
			return w.appendAudit(ctx, rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	g.Version = 1
	return nil
}

// UpdateGrant is UpdateGrants for one update. Returns ECONFLICT if the grant
// changed since g.Version was read and ENOTFOUND if it does not exist.
func (s *Store) UpdateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	errs, err := s.UpdateGrants(ctx, []stint.GrantUpdate{{Grant: g, Audit: rec}})
	if err != nil {
		return err
	}
	return errs[0]
}

// UpdateGrants writes each update as a compare-and-set on its grant's
// version, clears any claim on the grant and appends its audit record, all in
// one transaction. A skipped update's entry in the returned slice is ECONFLICT
// (the grant changed since it was read) or ENOTFOUND (it does not exist); the
// others are written and their Grant.Version incremented. The error result is
// for the transaction as a whole: when it is set, nothing was written
// (EINVALID for an update without a grant or a record that cannot be
// encoded).
func (s *Store) UpdateGrants(ctx context.Context, updates []stint.GrantUpdate) ([]error, error) {
	errs := make([]error, len(updates))
	if len(updates) == 0 {
		return errs, nil
	}
	args := make([][]any, len(updates))
	audited := false
	for i, u := range updates {
		if u.Grant == nil {
			return nil, stint.Errorf(stint.EINVALID, "postgres: update %d has no grant", i)
		}
		a, err := grantArgs(u.Grant)
		if err != nil {
			return nil, internal("postgres: update grant", err)
		}
		args[i] = append(a, u.Grant.Version)
		audited = audited || u.Audit != nil
	}
	var written []*stint.Grant
	err := s.write(ctx, "update grants", func(ctx context.Context, w *wtx) error {
		clear(errs)
		written = written[:0]
		if audited {
			if err := w.lockHead(ctx); err != nil {
				return err
			}
		}
		for i, u := range updates {
			tag, err := w.tx.Exec(ctx, updateGrantSQL, args[i]...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var exists bool
				if err := w.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE id = $1)`, u.Grant.ID).Scan(&exists); err != nil {
					return err
				}
				if exists {
					errs[i] = stint.Errorf(stint.ECONFLICT, "grant %s changed since version %d was read", u.Grant.ID, u.Grant.Version)
				} else {
					errs[i] = stint.Errorf(stint.ENOTFOUND, "grant %s not found", u.Grant.ID)
				}
				continue
			}
			if u.Audit != nil {
				if err := w.appendAudit(ctx, u.Audit); err != nil {
					return err
				}
			}
			written = append(written, u.Grant)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, g := range written {
		g.Version++
	}
	return errs, nil
}

// GetGrant returns the grant with the given id. Returns ENOTFOUND if there
// is none.
func (s *Store) GetGrant(ctx context.Context, id string) (*stint.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, stint.Errorf(stint.ENOTFOUND, "grant %s not found", id)
	} else if err != nil {
		return nil, dbErr("get grant", err)
	}
	return g, nil
}

// params builds a query's numbered parameters.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// ListGrants returns the grants matching f, newest first, at most f.Limit of
// them (DefaultGrantLimit when 0, capped at MaxGrantLimit), and the cursor of
// the next page, "" on the last page. Returns EINVALID for a malformed cursor.
func (s *Store) ListGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultGrantLimit
	} else if limit > MaxGrantLimit {
		limit = MaxGrantLimit
	}
	var where []string
	var p params
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "id < "+p.add(after))
	}
	if len(f.State) > 0 {
		states := make([]string, len(f.State))
		for i, st := range f.State {
			states[i] = string(st)
		}
		where = append(where, "state = ANY("+p.add(states)+")")
	}
	if f.Principal != "" {
		where = append(where, "principal = "+p.add(f.Principal))
	}
	if f.Access != "" {
		where = append(where, "access = "+p.add(f.Access))
	}
	if f.BreakGlass {
		where = append(where, "break_glass")
	}
	if f.Policy != "" {
		where = append(where, "policy = "+p.add(f.Policy))
	}
	if len(f.IDs) > 0 {
		where = append(where, "id = ANY("+p.add(f.IDs)+")")
	}
	q := `SELECT ` + grantCols + ` FROM grants`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ` + p.add(limit+1)

	rows, err := s.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, "", dbErr("list grants", err)
	}
	defer rows.Close()
	gs := make([]*stint.Grant, 0, min(limit, 64))
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, "", dbErr("list grants", err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("list grants", err)
	}
	next := ""
	if len(gs) > limit {
		gs = gs[:limit]
		next = encodeCursor(gs[limit-1].ID)
	}
	return gs, next, nil
}

// cursorPrefix versions the cursor format: base64url("g1:" + last id), the
// same as the SQLite store's.
const cursorPrefix = "g1:"

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok || id == "" || strings.ContainsRune(id, 0) {
		return "", stint.Errorf(stint.EINVALID, "invalid cursor")
	}
	return id, nil
}
