package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

var _ stint.ReportStore = (*Store)(nil)

// reportPage is how many grants ReportGrants reads per query. Each page is a
// short read transaction, so a long report never pins a WAL snapshot, and fn
// runs with no connection held.
const reportPage = 500

// reportGrantsSQL reads a page of grants by id range (ids start with their
// creation time in milliseconds, so the primary key bounds the scan) with the
// audit record that ended each expired or revoked one, found through the
// audit_grant index.
var reportGrantsSQL = `SELECT ` + prefixCols("g.", grantCols) + `, a.type, a.time, a.details
	FROM grants g
	LEFT JOIN audit a ON g.state IN ('expired', 'revoked') AND a.seq = (
		SELECT MAX(seq) FROM audit
		WHERE grant_id = g.id AND type IN ('grant.expired', 'grant.revoked', 'grant.force_closed'))
	WHERE g.id > ? AND g.id < ?
	ORDER BY g.id LIMIT ?`

// ReportGrants calls fn for each grant requested in [from, to), oldest
// first, with the audit record that ended it (only Type, Time and Details
// set) when it is expired or revoked. Grant ids must come from stint.NewID
// at the request time, as the broker makes them. An error from fn stops the
// walk and is returned as is.
func (s *Store) ReportGrants(ctx context.Context, from, to time.Time, fn func(*stint.Grant, *stint.AuditRecord) error) error {
	if !from.Before(to) {
		return nil
	}
	// Every id of a grant requested in [from, to) lies strictly between
	// these bounds; requested_at is checked exactly below.
	after := idBound(from.Add(-time.Millisecond))
	before := idBound(to.Add(time.Millisecond))
	type row struct {
		g   *stint.Grant
		end *stint.AuditRecord
	}
	page := make([]row, 0, reportPage)
	for {
		page = page[:0]
		rows, err := s.rdb.QueryContext(ctx, reportGrantsSQL, after, before, reportPage)
		if err != nil {
			return dbErr("report grants", err)
		}
		for rows.Next() {
			g, end, err := scanReportRow(rows)
			if err != nil {
				rows.Close()
				return dbErr("report grants", err)
			}
			page = append(page, row{g, end})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return dbErr("report grants", err)
		}
		for _, r := range page {
			if r.g.RequestedAt.Before(from) || !r.g.RequestedAt.Before(to) {
				continue
			}
			if err := fn(r.g, r.end); err != nil {
				return err
			}
		}
		if len(page) < reportPage {
			return nil
		}
		after = page[len(page)-1].g.ID
	}
}

// idBound returns the smallest grant id of the millisecond of t: the
// timestamp part of stint.NewID followed by zero bits.
func idBound(t time.Time) string {
	if t.Before(time.Unix(0, 0)) {
		t = time.Unix(0, 0) // no grant is older; a negative bound would wrap
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	clear(b[6:])
	return idEncoding.EncodeToString(b[:])
}

// idEncoding is the encoding of stint.NewID.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// scanReportRow reads grantCols followed by the end record's type, time and
// details (NULL when there is none).
func scanReportRow(rows *sql.Rows) (*stint.Grant, *stint.AuditRecord, error) {
	var typ sql.NullString
	var at sql.NullInt64
	var details []byte
	g, err := scanGrant(extraScanner{rows, []any{&typ, &at, &details}})
	if err != nil || !typ.Valid {
		return g, nil, err
	}
	end := &stint.AuditRecord{Type: typ.String, GrantID: g.ID, Access: g.Access}
	if at.Valid {
		end.Time = time.Unix(0, at.Int64).UTC()
	}
	if len(details) > 0 {
		dec := json.NewDecoder(bytes.NewReader(details))
		dec.UseNumber()
		if err := dec.Decode(&end.Details); err != nil {
			return nil, nil, err
		}
	}
	return g, end, nil
}

// extraScanner appends destinations to a scan of grantCols.
type extraScanner struct {
	rows  *sql.Rows
	extra []any
}

func (e extraScanner) Scan(dest ...any) error { return e.rows.Scan(append(dest, e.extra...)...) }

// prefixCols qualifies each column of a comma-separated list.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// CountAudit returns the number of audit records of type typ with a time in
// [from, to). Revocation failures are counted through a partial index.
func (s *Store) CountAudit(ctx context.Context, typ string, from, to time.Time) (int, error) {
	q := `SELECT COUNT(*) FROM audit WHERE type = ? AND time >= ? AND time < ?`
	args := []any{typ, from.UnixNano(), to.UnixNano()}
	if typ == stint.AuditGrantRevokeFailed {
		// The literal matches the partial index's WHERE clause.
		q = `SELECT COUNT(*) FROM audit WHERE type = 'grant.revoke_failed' AND time >= ? AND time < ?`
		args = args[1:]
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, dbErr("count audit", err)
	}
	return n, nil
}

// CountStanding returns, summed over resources, the number of standing
// privileges found by the first and by the latest discovery run of each.
func (s *Store) CountStanding(ctx context.Context) (baseline, current int, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN r.id = f.first THEN json_array_length(r.privileges) END), 0),
		COALESCE(SUM(CASE WHEN r.id = f.last THEN json_array_length(r.privileges) END), 0)
		FROM (SELECT MIN(id) AS first, MAX(id) AS last FROM discovery_runs GROUP BY resource) f
		JOIN discovery_runs r ON r.id IN (f.first, f.last)`).Scan(&baseline, &current)
	if err != nil {
		return 0, 0, dbErr("count standing access", err)
	}
	return baseline, current, nil
}
