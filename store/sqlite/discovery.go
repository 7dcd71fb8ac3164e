package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stint-io/stint"
)

var _ stint.DiscoveryStore = (*Store)(nil)

// SaveDiscovery stores run and appends rec in one transaction. Returns
// EINVALID without a resource.
func (s *Store) SaveDiscovery(ctx context.Context, run *stint.DiscoveryRun, rec *stint.AuditRecord) error {
	if run.Resource == "" {
		return stint.Errorf(stint.EINVALID, "sqlite: discovery run without a resource")
	}
	privs := run.Privileges
	if privs == nil {
		privs = []stint.StandingPrivilege{}
	}
	b, err := json.Marshal(privs)
	if err != nil {
		return internal("sqlite: encode discovery", err)
	}
	var id int64
	err = s.write(ctx, "save discovery", func(ctx context.Context, w *wtx) error {
		res, err := w.tx.ExecContext(ctx, `INSERT INTO discovery_runs (resource, time, privileges) VALUES (?, ?, ?)`,
			run.Resource, run.Time.UTC().UnixNano(), string(b))
		if err != nil {
			return internal("sqlite: insert discovery", err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return internal("sqlite: discovery id", err)
		}
		if rec != nil {
			return s.appendAudit(ctx, w, rec)
		}
		return nil
	})
	if err == nil {
		run.ID = id
	}
	return err
}

// ListDiscoveries returns the runs of resource ("" for all), newest first.
func (s *Store) ListDiscoveries(ctx context.Context, resource string, limit int) ([]*stint.DiscoveryRun, error) {
	q := `SELECT id, resource, time, privileges FROM discovery_runs`
	var args []any
	if resource != "" {
		q += ` WHERE resource = ?`
		args = append(args, resource)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, internal("sqlite: list discoveries", err)
	}
	defer rows.Close()
	var out []*stint.DiscoveryRun
	for rows.Next() {
		var r stint.DiscoveryRun
		var t int64
		var privs string
		if err := rows.Scan(&r.ID, &r.Resource, &t, &privs); err != nil {
			return nil, internal("sqlite: scan discovery", err)
		}
		r.Time = time.Unix(0, t).UTC()
		if err := json.Unmarshal([]byte(privs), &r.Privileges); err != nil {
			return nil, internal("sqlite: decode discovery", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}
