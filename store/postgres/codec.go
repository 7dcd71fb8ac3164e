package postgres

import (
	"bytes"
	"encoding/json"
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

const auditCols = `seq, time_ns, type, actor, grant_id, access, reason, details, prev_hash, hash`

// grantArgs returns the 28 column values of g ($1..$28), id first, version
// excluded. Times are truncated to microseconds, as PostgreSQL keeps them.
func grantArgs(g *stint.Grant) ([]any, error) {
	approvals, approvers, window, pdata, err := grantjson.Encode(g)
	if err != nil {
		return nil, err
	}
	return []any{
		g.ID, g.Principal, g.PrincipalKind, g.Access, string(g.State), g.Policy, g.Reason, g.Ticket,
		int64(g.RequestedTTL), int64(g.TTL), int64(g.MaxTTL),
		ts(g.RequestedAt), tsPtr(g.ActivatedAt), tsPtr(g.ExpiresAt), tsPtr(g.EndedAt),
		approvals, g.ApprovalsRequired, approvers, tsPtr(g.ApprovalDeadline),
		window, g.BreakGlass, g.Provider, g.Revocation, g.Detail, string(g.EndState),
		g.Attempts, pdata, tsPtr(g.DueAt),
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

// grantDest holds the scan destinations of one row of grantCols.
type grantDest struct {
	g                                          stint.Grant
	state, endState                            string
	reqTTL, ttl, maxTTL                        int64
	reqAt, actAt, expAt, endAt, deadline, due  *time.Time
	approvals, approvers, window, providerData []byte
}

func (d *grantDest) dest() []any {
	g := &d.g
	return []any{&g.ID, &g.Principal, &g.PrincipalKind, &g.Access, &d.state, &g.Policy, &g.Reason, &g.Ticket,
		&d.reqTTL, &d.ttl, &d.maxTTL, &d.reqAt, &d.actAt, &d.expAt, &d.endAt,
		&d.approvals, &g.ApprovalsRequired, &d.approvers, &d.deadline, &d.window, &g.BreakGlass,
		&g.Provider, &g.Revocation, &g.Detail, &d.endState, &g.Attempts, &d.providerData, &d.due, &g.Version}
}

// grant decodes the scanned row.
func (d *grantDest) grant() (*stint.Grant, error) {
	g := d.g
	g.State, g.EndState = stint.State(d.state), stint.State(d.endState)
	g.RequestedTTL, g.TTL, g.MaxTTL = stint.Duration(d.reqTTL), stint.Duration(d.ttl), stint.Duration(d.maxTTL)
	if d.reqAt != nil {
		g.RequestedAt = d.reqAt.UTC()
	}
	g.ActivatedAt, g.ExpiresAt, g.EndedAt = utcPtr(d.actAt), utcPtr(d.expAt), utcPtr(d.endAt)
	g.ApprovalDeadline, g.DueAt = utcPtr(d.deadline), utcPtr(d.due)
	if err := grantjson.Decode(&g, d.approvals, d.approvers, d.window, d.providerData); err != nil {
		return nil, err
	}
	return &g, nil
}

// scanGrant reads one row of grantCols.
func scanGrant(sc scanner) (*stint.Grant, error) {
	var d grantDest
	if err := sc.Scan(d.dest()...); err != nil {
		return nil, err
	}
	return d.grant()
}

// auditArgs returns the column values of a sealed record for
// (seq, time, time_ns, type, actor, grant_id, access, reason, details,
// prev_hash, hash).
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
	return []any{r.Seq, r.Time.Truncate(time.Microsecond), r.Time.UnixNano(), r.Type, r.Actor, grantID,
		r.Access, r.Reason, details, r.PrevHash, r.Hash}, nil
}

// scanAudit reads one row of auditCols. Details are decoded with UseNumber so
// that numbers keep their exact text and the record's hash recomputes.
func scanAudit(sc scanner) (*stint.AuditRecord, error) {
	var (
		r       stint.AuditRecord
		ns      int64
		grantID *string
		details *string
	)
	if err := sc.Scan(&r.Seq, &ns, &r.Type, &r.Actor, &grantID, &r.Access, &r.Reason, &details, &r.PrevHash, &r.Hash); err != nil {
		return nil, err
	}
	r.Time = time.Unix(0, ns).UTC()
	if grantID != nil {
		r.GrantID = *grantID
	}
	if details != nil {
		d, err := decodeDetails(*details)
		if err != nil {
			return nil, fmt.Errorf("audit record %d: decode details: %w", r.Seq, err)
		}
		r.Details = d
	}
	return &r, nil
}

func decodeDetails(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// ts returns t for a timestamptz parameter (truncated to microseconds), or
// nil (NULL) for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// micro returns t in UTC truncated to microseconds, for a NOT NULL column.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// ceilMicro rounds t up to a whole microsecond: x < t holds for a stored
// (whole-microsecond) x exactly when x < ceilMicro(t).
func ceilMicro(t time.Time) time.Time {
	f := t.UTC().Truncate(time.Microsecond)
	if f.Before(t) {
		f = f.Add(time.Microsecond)
	}
	return f
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
