package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/internal/grantjson"
)

// grantCols are the grant columns in the order of grantArgs and scanGrant.
const grantCols = `id, principal, principal_kind, access, state, policy, reason, ticket,
	requested_ttl, ttl, max_ttl, requested_at, activated_at, expires_at, ended_at,
	approvals, approvals_required, approvers, approval_deadline, window_ref, break_glass,
	provider, revocation, detail, end_state, attempts, provider_data, due_at, version`

const auditCols = `seq, time, type, actor, grant_id, access, reason, details, prev_hash, hash`

// stmts are the prepared statements of the hot paths.
type stmts struct {
	insertGrant *sql.Stmt
	grantHead   *sql.Stmt // the indexed columns and version of a grant
	// update holds the UPDATE statements by the set of indexed columns
	// they write (see updateSQL).
	update      [1 << 5]*sql.Stmt
	insertAudit *sql.Stmt
	getGrant    *sql.Stmt // on the readers
}

func prepare(ctx context.Context, w, r *sql.DB) (*stmts, error) {
	s := &stmts{}
	var err error
	p := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	s.insertGrant = p(w, `INSERT INTO grants (`+grantCols+`)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
		?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, 1)
		ON CONFLICT (id) DO NOTHING`)
	s.grantHead = p(w, `SELECT state, principal, access, due_at, claimed_until, version FROM grants WHERE id = ?`)
	s.insertAudit = p(w, `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	for mask := range s.update {
		s.update[mask] = p(w, updateSQL(mask))
	}
	s.getGrant = p(r, `SELECT `+grantCols+` FROM grants WHERE id = ?`)
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *stmts) close() error {
	var errs []error
	all := append([]*sql.Stmt{s.insertGrant, s.grantHead, s.insertAudit, s.getGrant}, s.update[:]...)
	for _, st := range all {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// grantArgs returns the 28 column values of g, id first, version excluded.
func grantArgs(g *stint.Grant) ([]any, error) {
	approvals, approvers, window, pdata, err := grantjson.Encode(g)
	if err != nil {
		return nil, err
	}
	return []any{
		g.ID, g.Principal, g.PrincipalKind, g.Access, string(g.State), g.Policy, g.Reason, g.Ticket,
		int64(g.RequestedTTL), int64(g.TTL), int64(g.MaxTTL),
		nanos(g.RequestedAt), nanosPtr(g.ActivatedAt), nanosPtr(g.ExpiresAt), nanosPtr(g.EndedAt),
		approvals, g.ApprovalsRequired, approvers, nanosPtr(g.ApprovalDeadline),
		window, g.BreakGlass, g.Provider, g.Revocation, g.Detail, string(g.EndState),
		g.Attempts, pdata, nanosPtr(g.DueAt),
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanGrant reads one row of grantCols.
func scanGrant(sc scanner) (*stint.Grant, error) {
	var (
		g                                          stint.Grant
		state, endState                            string
		reqTTL, ttl, maxTTL                        int64
		reqAt, actAt, expAt, endAt, deadline, due  sql.NullInt64
		approvals, approvers, window, providerData []byte
	)
	err := sc.Scan(&g.ID, &g.Principal, &g.PrincipalKind, &g.Access, &state, &g.Policy, &g.Reason, &g.Ticket,
		&reqTTL, &ttl, &maxTTL, &reqAt, &actAt, &expAt, &endAt,
		&approvals, &g.ApprovalsRequired, &approvers, &deadline, &window, &g.BreakGlass,
		&g.Provider, &g.Revocation, &g.Detail, &endState, &g.Attempts, &providerData, &due, &g.Version)
	if err != nil {
		return nil, err
	}
	g.State, g.EndState = stint.State(state), stint.State(endState)
	g.RequestedTTL, g.TTL, g.MaxTTL = stint.Duration(reqTTL), stint.Duration(ttl), stint.Duration(maxTTL)
	if reqAt.Valid {
		g.RequestedAt = time.Unix(0, reqAt.Int64).UTC()
	}
	g.ActivatedAt, g.ExpiresAt, g.EndedAt = timePtr(actAt), timePtr(expAt), timePtr(endAt)
	g.ApprovalDeadline, g.DueAt = timePtr(deadline), timePtr(due)
	if err := grantjson.Decode(&g, approvals, approvers, window, providerData); err != nil {
		return nil, err
	}
	return &g, nil
}

// auditArgs returns the column values of a sealed record.
func auditArgs(r *stint.AuditRecord) ([]any, error) {
	var details any
	if len(r.Details) > 0 {
		b, err := json.Marshal(r.Details)
		if err != nil {
			return nil, fmt.Errorf("encode audit details: %w", err)
		}
		details = string(b)
	}
	var grantID any
	if r.GrantID != "" {
		grantID = r.GrantID
	}
	return []any{r.Seq, r.Time.UnixNano(), r.Type, r.Actor, grantID, r.Access, r.Reason, details, r.PrevHash, r.Hash}, nil
}

// scanAudit reads one row of auditCols. Details are decoded with UseNumber so
// that numbers keep their exact text and the record's hash recomputes.
func scanAudit(sc scanner) (*stint.AuditRecord, error) {
	var (
		r       stint.AuditRecord
		t       int64
		grantID sql.NullString
		details []byte
	)
	if err := sc.Scan(&r.Seq, &t, &r.Type, &r.Actor, &grantID, &r.Access, &r.Reason, &details, &r.PrevHash, &r.Hash); err != nil {
		return nil, err
	}
	r.Time = time.Unix(0, t).UTC()
	r.GrantID = grantID.String
	if len(details) > 0 {
		dec := json.NewDecoder(bytes.NewReader(details))
		dec.UseNumber()
		if err := dec.Decode(&r.Details); err != nil {
			return nil, fmt.Errorf("audit record %d: decode details: %w", r.Seq, err)
		}
	}
	return &r, nil
}

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nanosPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}
