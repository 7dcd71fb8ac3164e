package postgres

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// reportPage is how many grants ReportGrants reads per query; fn runs with
// no connection held.
const reportPage = 500

// reportGrantsSQL reads a page of grants by id range (ids start with their
// creation time in milliseconds, so the primary key bounds the scan) with the
// audit record that ended each expired or revoked one, found through the
// audit_grant index.
var reportGrantsSQL = `SELECT ` + prefixCols("g.", grantCols) + `, a.type, a.time_ns, a.details
	FROM grants g
	LEFT JOIN LATERAL (
		SELECT type, time_ns, details FROM audit
		WHERE grant_id = g.id AND type IN ('grant.expired', 'grant.revoked', 'grant.force_closed')
		ORDER BY seq DESC LIMIT 1) a ON g.state IN ('expired', 'revoked')
	WHERE g.id > $1 AND g.id < $2
	ORDER BY g.id LIMIT $3`

// ReportGrants calls fn for each grant requested in [from, to), oldest
// first, with the audit record that ended it (only Type, Time, GrantID,
// Access and Details set) when it is expired or revoked. Grant ids must come
// from stint.NewID at the request time, as the broker makes them. An error
// from fn stops the walk and is returned as is.
func (s *Store) ReportGrants(ctx context.Context, from, to time.Time, fn func(*stint.Grant, *stint.AuditRecord) error) error {
	if !from.Before(to) {
		return nil
	}
	after := idBound(from.Add(-time.Millisecond))
	before := idBound(to.Add(time.Millisecond))
	type row struct {
		g   *stint.Grant
		end *stint.AuditRecord
	}
	page := make([]row, 0, reportPage)
	for {
		page = page[:0]
		rows, err := s.pool.Query(ctx, reportGrantsSQL, after, before, reportPage)
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
		rows.Close()
		if err := rows.Err(); err != nil {
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
		t = time.Unix(0, 0)
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
func scanReportRow(rows pgx.Rows) (*stint.Grant, *stint.AuditRecord, error) {
	var d grantDest
	var typ, details *string
	var ns *int64
	if err := rows.Scan(append(d.dest(), &typ, &ns, &details)...); err != nil {
		return nil, nil, err
	}
	g, err := d.grant()
	if err != nil || typ == nil {
		return g, nil, err
	}
	end := &stint.AuditRecord{Type: *typ, GrantID: g.ID, Access: g.Access}
	if ns != nil {
		end.Time = time.Unix(0, *ns).UTC()
	}
	if details != nil {
		if end.Details, err = decodeDetails(*details); err != nil {
			return nil, nil, err
		}
	}
	return g, end, nil
}

// prefixCols qualifies each column of a comma-separated list.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// CountAudit returns the number of audit records of type typ with a time in
// [from, to).
func (s *Store) CountAudit(ctx context.Context, typ string, from, to time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit WHERE type = $1 AND time_ns >= $2 AND time_ns < $3`,
		typ, from.UnixNano(), to.UnixNano()).Scan(&n)
	if err != nil {
		return 0, dbErr("count audit", err)
	}
	return n, nil
}

// CountStanding returns, summed over resources, the number of standing
// privileges found by the first and by the latest discovery run of each.
func (s *Store) CountStanding(ctx context.Context) (baseline, current int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN r.id = f.first THEN jsonb_array_length(r.privileges) END), 0)::bigint,
		COALESCE(SUM(CASE WHEN r.id = f.last THEN jsonb_array_length(r.privileges) END), 0)::bigint
		FROM (SELECT MIN(id) AS first, MAX(id) AS last FROM discovery_runs GROUP BY resource) f
		JOIN discovery_runs r ON r.id IN (f.first, f.last)`).Scan(&baseline, &current)
	if err != nil {
		return 0, 0, dbErr("count standing access", err)
	}
	return baseline, current, nil
}
