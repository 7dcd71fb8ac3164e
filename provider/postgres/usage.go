package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint"
)

// MaxUsageEntries bounds the grants whose last use is kept in memory; the
// bookkeeping table holds them all.
const MaxUsageEntries = 100_000

// UsageRetention is how long usage records are kept after a grant was last
// seen.
const UsageRetention = 90 * 24 * time.Hour

type seen struct{ at time.Time }

// runSampler samples pg_stat_activity every usage interval until ctx ends.
// Failures are logged and retried at the next interval.
func (p *Provider) runSampler(ctx context.Context) {
	defer close(p.done)
	timer := p.clock.NewTimer(p.cfg.usageInterval)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		sctx, cancel := context.WithTimeout(ctx, p.cfg.usageInterval)
		err := p.SampleUsage(sctx)
		cancel()
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil:
			return
		default:
			// Log the first failure of a run and then every tenth.
			if failures%10 == 0 {
				p.logger.Warn("postgres: usage sampling failed", "err", err, "failures", failures+1)
			}
			failures++
		}
		timer.Reset(p.cfg.usageInterval)
	}
}

// SampleUsage reads pg_stat_activity once and records, for every ephemeral
// role with a session, that its grant was in use now. The sampler calls it
// every usage_interval; tests may call it directly. Returns EUNAVAILABLE if
// the server fails.
func (p *Provider) SampleUsage(ctx context.Context) error {
	rows, err := p.pool.Query(ctx, `SELECT DISTINCT usename FROM pg_catalog.pg_stat_activity
		WHERE starts_with(usename, $1)`, p.cfg.prefix)
	if err != nil {
		return p.dbError("cannot sample pg_stat_activity", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return p.dbError("cannot sample pg_stat_activity", err)
	}
	now := p.clock.Now().UTC()
	ids := make([]string, 0, len(names))
	for _, n := range names {
		if id := strings.TrimPrefix(n, p.cfg.prefix); stint.ValidID(id) {
			ids = append(ids, id)
		}
	}
	p.mu.Lock()
	for _, id := range ids {
		if _, ok := p.seen[id]; ok || len(p.seen) < MaxUsageEntries {
			p.seen[id] = seen{at: now}
		}
	}
	p.mu.Unlock()
	if err := p.ensureSchema(ctx); err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, "INSERT INTO "+p.table("usage")+` (grant_id, last_seen)
		SELECT unnest($1::text[]), $2 ON CONFLICT (grant_id) DO UPDATE SET last_seen = excluded.last_seen;`,
		ids, now)
	if err != nil {
		return p.dbError("cannot record usage", err)
	}
	_, err = p.pool.Exec(ctx, "DELETE FROM "+p.table("usage")+" WHERE last_seen < $1", now.Add(-UsageRetention))
	if err != nil {
		return p.dbError("cannot prune usage", err)
	}
	return nil
}

// forget drops the in-memory usage of a grant that ends; its record stays
// in the bookkeeping table for Used.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	delete(p.seen, id)
	p.mu.Unlock()
}

// Used reports whether the sampler saw a session of g's role, and when it
// last did, from memory or from the bookkeeping table (so that it survives
// restarts and revocation). A session shorter than usage_interval may go
// unseen. For an elevation grant it returns an error wrapping
// ErrUsageUnobservable (EINVALID); EUNAVAILABLE if the server fails.
func (p *Provider) Used(ctx context.Context, g *stint.Grant) (bool, time.Time, error) {
	if p.isElevation(g) {
		return false, time.Time{}, &stint.Error{
			Code:    stint.EINVALID,
			Message: fmt.Sprintf("postgres resource %s: the use of elevation grants is not observable", p.cfg.resource),
			Err:     ErrUsageUnobservable,
		}
	}
	p.mu.Lock()
	s, ok := p.seen[g.ID]
	p.mu.Unlock()
	if ok {
		return true, s.at, nil
	}
	if err := p.ensureSchema(ctx); err != nil {
		return false, time.Time{}, err
	}
	var at time.Time
	err := p.pool.QueryRow(ctx, "SELECT last_seen FROM "+p.table("usage")+" WHERE grant_id = $1", g.ID).Scan(&at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, time.Time{}, nil
	case err != nil:
		return false, time.Time{}, p.dbError("cannot read usage", err)
	}
	return true, at, nil
}
