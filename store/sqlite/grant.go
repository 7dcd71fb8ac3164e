package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/stint-io/stint"
)

// Limits of ListGrants.
const (
	DefaultGrantLimit = 100
	MaxGrantLimit     = 1000
)

// CreateGrant inserts g with version 1 and appends rec (which may be nil) in
// the same transaction; g.Version is set to 1 once committed. Returns
// ECONFLICT if a grant with g.ID exists and EINVALID if g has no id.
func (s *Store) CreateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	if g == nil || g.ID == "" {
		return stint.Errorf(stint.EINVALID, "sqlite: a grant needs an id")
	}
	args, err := grantArgs(g)
	if err != nil {
		return internal("sqlite: create grant", err)
	}
	return s.write(ctx, "create grant", func(ctx context.Context, w *wtx) error {
		res, err := w.stmt(ctx, s.stmts.insertGrant).ExecContext(ctx, args...)
		if err != nil {
			return dbErr("create grant", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbErr("create grant", err)
		} else if n == 0 {
			return stint.Errorf(stint.ECONFLICT, "grant %s already exists", g.ID)
		}
		if rec != nil {
			if err := s.appendAudit(ctx, w, rec); err != nil {
				return err
			}
		}
		w.after = append(w.after, func() { g.Version = 1 })
		return nil
	})
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
// for the transaction as a whole: when it is set, nothing was written.
func (s *Store) UpdateGrants(ctx context.Context, updates []stint.GrantUpdate) ([]error, error) {
	errs := make([]error, len(updates))
	if len(updates) == 0 {
		return errs, nil
	}
	args := make([][]any, len(updates))
	for i, u := range updates {
		if u.Grant == nil {
			return nil, stint.Errorf(stint.EINVALID, "sqlite: update %d has no grant", i)
		}
		a, err := grantArgs(u.Grant)
		if err != nil {
			return nil, internal("sqlite: update grant", err)
		}
		args[i] = append(a, u.Grant.Version)
	}
	err := s.write(ctx, "update grants", func(ctx context.Context, w *wtx) error {
		clear(errs)
		var written []*stint.Grant
		for i, u := range updates {
			st, err := s.updateStmt(ctx, w, u.Grant, args[i])
			if err != nil {
				if stint.ErrorCode(err) == stint.EINTERNAL {
					return err
				}
				errs[i] = err
				continue
			}
			res, err := st.ExecContext(ctx, args[i]...)
			if err != nil {
				return dbErr("update grant", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return dbErr("update grant", err)
			} else if n != 1 {
				return internal("sqlite: update grant", fmt.Errorf("grant %s: %d rows updated", u.Grant.ID, n))
			}
			if u.Audit != nil {
				if err := s.appendAudit(ctx, w, u.Audit); err != nil {
					return err
				}
			}
			written = append(written, u.Grant)
		}
		w.after = append(w.after, func() {
			for _, g := range written {
				g.Version++
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// Bits of an update mask: the indexed columns an update writes. Writing an
// indexed column costs index maintenance even when its value is unchanged,
// so each update writes only those that change.
const (
	updState = 1 << iota
	updPrincipal
	updAccess
	updDue
	updClaim
)

// updateStmt reads the grant's indexed columns and version and returns the
// UPDATE statement (on w's transaction) for the columns that change. Returns
// ENOTFOUND or ECONFLICT when the compare-and-set cannot succeed.
func (s *Store) updateStmt(ctx context.Context, w *wtx, g *stint.Grant, args []any) (*sql.Stmt, error) {
	var state, principal, access string
	var due, claimed sql.NullInt64
	var version int64
	err := w.stmt(ctx, s.stmts.grantHead).QueryRowContext(ctx, g.ID).Scan(&state, &principal, &access, &due, &claimed, &version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, stint.Errorf(stint.ENOTFOUND, "grant %s not found", g.ID)
	case err != nil:
		return nil, dbErr("update grant", err)
	case version != g.Version:
		return nil, stint.Errorf(stint.ECONFLICT, "grant %s changed since version %d was read", g.ID, g.Version)
	}
	mask := 0
	if state != args[4] {
		mask |= updState
	}
	if principal != args[1] {
		mask |= updPrincipal
	}
	if access != args[3] {
		mask |= updAccess
	}
	if newDue, _ := args[27].(int64); due.Valid != (args[27] != nil) || due.Int64 != newDue {
		mask |= updDue
	}
	if claimed.Valid {
		mask |= updClaim
	}
	return w.stmt(ctx, s.stmts.update[mask]), nil
}

// updateSQL returns the compare-and-set UPDATE writing every non-indexed
// column and the indexed ones in mask; parameters are numbered as grantArgs,
// ?29 the expected version.
func updateSQL(mask int) string {
	set := []string{`policy = ?6, reason = ?7, ticket = ?8, requested_ttl = ?9, ttl = ?10, max_ttl = ?11,
		requested_at = ?12, activated_at = ?13, expires_at = ?14, ended_at = ?15, approvals = ?16,
		approvals_required = ?17, approvers = ?18, approval_deadline = ?19, window_ref = ?20,
		break_glass = ?21, provider = ?22, revocation = ?23, detail = ?24, end_state = ?25,
		attempts = ?26, provider_data = ?27, principal_kind = ?3, version = version + 1`}
	for _, c := range []struct {
		bit int
		sql string
	}{
		{updState, "state = ?5"}, {updPrincipal, "principal = ?2"}, {updAccess, "access = ?4"},
		{updDue, "due_at = ?28"}, {updClaim, "claimed_until = NULL"},
	} {
		if mask&c.bit != 0 {
			set = append(set, c.sql)
		}
	}
	return `UPDATE grants SET ` + strings.Join(set, ", ") + ` WHERE id = ?1 AND version = ?29`
}

// GetGrant returns the grant with the given id. Returns ENOTFOUND if there
// is none.
func (s *Store) GetGrant(ctx context.Context, id string) (*stint.Grant, error) {
	g, err := scanGrant(s.stmts.getGrant.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stint.Errorf(stint.ENOTFOUND, "grant %s not found", id)
	} else if err != nil {
		return nil, dbErr("get grant", err)
	}
	return g, nil
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
	var args []any
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "id < ?"), append(args, after)
	}
	if len(f.State) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.State))+")")
		for _, st := range f.State {
			args = append(args, string(st))
		}
	}
	if f.Principal != "" {
		where, args = append(where, "principal = ?"), append(args, f.Principal)
	}
	if f.Access != "" {
		where, args = append(where, "access = ?"), append(args, f.Access)
	}
	if f.BreakGlass {
		where = append(where, "break_glass = 1")
	}
	if f.Policy != "" {
		where, args = append(where, "policy = ?"), append(args, f.Policy)
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	q := `SELECT ` + grantCols + ` FROM grants`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.rdb.QueryContext(ctx, q, args...)
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

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// cursorPrefix versions the cursor format: base64url("g1:" + last id).
const cursorPrefix = "g1:"

func encodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	id, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok || id == "" {
		return "", stint.Errorf(stint.EINVALID, "invalid cursor")
	}
	return id, nil
}
