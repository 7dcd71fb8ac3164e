package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stint-io/stint"
)

// SaveDiscovery stores run (setting run.ID) and appends rec (which may be
// nil) in one transaction. Returns EINVALID without a resource.
func (s *Store) SaveDiscovery(ctx context.Context, run *stint.DiscoveryRun, rec *stint.AuditRecord) error {
	if run == nil || run.Resource == "" {
		return stint.Errorf(stint.EINVALID, "postgres: discovery run without a resource")
	}
	privs := run.Privileges
	if privs == nil {
		privs = []stint.StandingPrivilege{}
	}
	b, err := json.Marshal(privs)
	if err != nil {
		return internal("postgres: encode discovery", err)
	}
	var id int64
	err = s.write(ctx, "save discovery", func(ctx context.Context, w *wtx) error {
		if rec != nil {
			if err := w.lockHead(ctx); err != nil {
				return err
			}
		}
		if err := w.tx.QueryRow(ctx, `INSERT INTO discovery_runs (resource, time, privileges) VALUES ($1, $2, $3)
			RETURNING id`, run.Resource, micro(run.Time), string(b)).Scan(&id); err != nil {
			return err
		}
		if rec != nil {
			return w.appendAudit(ctx, rec)
		}
		return nil
	})
	if err == nil {
		run.ID = id
	}
	return err
}

// ListDiscoveries returns the runs of resource ("" for all), newest first,
// at most limit (0: all).
func (s *Store) ListDiscoveries(ctx context.Context, resource string, limit int) ([]*stint.DiscoveryRun, error) {
	var p params
	q := `SELECT id, resource, time, privileges FROM discovery_runs`
	if resource != "" {
		q += ` WHERE resource = ` + p.add(resource)
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ` + p.add(limit)
	}
	rows, err := s.pool.Query(ctx, q, p...)
	if err != nil {
		return nil, dbErr("list discoveries", err)
	}
	defer rows.Close()
	var out []*stint.DiscoveryRun
	for rows.Next() {
		var r stint.DiscoveryRun
		var t time.Time
		var privs []byte
		if err := rows.Scan(&r.ID, &r.Resource, &t, &privs); err != nil {
			return nil, dbErr("list discoveries", err)
		}
		r.Time = t.UTC()
		if err := json.Unmarshal(privs, &r.Privileges); err != nil {
			return nil, internal("postgres: decode discovery", err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list discoveries", err)
	}
	return out, nil
}
