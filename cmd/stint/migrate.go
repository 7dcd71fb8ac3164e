package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

func newMigrateCmd(e *env) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate --from URL --to URL",
		Short: "Copy a store (SQLite to PostgreSQL) with its audit chain intact",
		Long: `Copies every grant, audit record, received event, discovery run and
notification cursor from one store to another, empty one: for example from
sqlite:/var/lib/stint/stint.db to postgres://stint@db/stint. The audit chain
is rebuilt record by record and checked against the source's hashes; the
copy stops at the first difference. Stop the server first.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return withCode(exitUsage, fmt.Errorf("--from and --to are required"))
			}
			return migrate(cmd.Context(), e.stdout, from, to)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source store: sqlite:PATH or postgres://...")
	cmd.Flags().StringVar(&to, "to", "", "destination store (must be empty)")
	return cmd
}

func migrate(ctx context.Context, out io.Writer, from, to string) error {
	logger := slog.New(slog.DiscardHandler)
	src, err := openStore(ctx, from, stint.SystemClock, logger)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := openStore(ctx, to, stint.SystemClock, logger)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	if gs, _, err := dst.ListGrants(ctx, stint.GrantFilter{Limit: 1}); err != nil {
		return err
	} else if recs, err := dst.ListAudit(ctx, stint.AuditFilter{Limit: 1}); err != nil {
		return err
	} else if len(gs) > 0 || len(recs) > 0 {
		return withCode(exitUsage, fmt.Errorf("--to: the destination store is not empty"))
	}
	start := time.Now()
	n, grants, events, runs, err := copyStore(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("%w\nthe copy is incomplete: do not start a server on it; empty the destination (drop and recreate the database, or remove the file) and run stint migrate again", err)
	}
	res, err := audit.Verify(ctx, dst)
	if err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("the copied audit chain does not verify: record %d: %s", res.BadSeq, res.Problem)
	}
	fmt.Fprintf(out, "copied %d grants, %d audit records (chain verified), %d events, %d discovery runs in %s\n",
		grants, n, events, runs, time.Since(start).Round(time.Millisecond))
	return nil
}

// AuditStoreMigrated is the last record of a completed copy: a trail that
// lacks it after the copied records comes from an interrupted migration.
const AuditStoreMigrated = "store.migrated"

// copyStore copies everything but the audit chain first, then the chain,
// and ends with a store.migrated record, so that an interrupted copy never
// looks complete: its trail lacks that record.
func copyStore(ctx context.Context, src, dst stint.Store) (records, grants, events, runs int, err error) {
	// Notification cursors first: on an empty trail they can be set to any
	// position, and they never move backwards afterwards.
	if sc, ok := src.(stint.NotifyCursorStore); ok {
		if err := copyCursors(ctx, src, sc, dst); err != nil {
			return 0, 0, 0, 0, err
		}
	}
	gf := stint.GrantFilter{Limit: 1000}
	for {
		gs, next, err := src.ListGrants(ctx, gf)
		if err != nil {
			return 0, grants, 0, 0, err
		}
		for _, g := range gs {
			if err := dst.CreateGrant(ctx, g, nil); err != nil {
				return 0, grants, 0, 0, fmt.Errorf("copy grant %s: %w", g.ID, err)
			}
			grants++
		}
		if next == "" {
			break
		}
		gf.Cursor = next
	}
	if events, runs, err = copyExtras(ctx, src, dst); err != nil {
		return 0, grants, events, runs, err
	}
	// The audit chain, in order: sealing each record after the previous one
	// reproduces the source's hashes exactly, or the copy stops.
	f := stint.AuditFilter{Limit: 1000}
	var last *stint.AuditRecord
	for {
		recs, err := src.ListAudit(ctx, f)
		if err != nil {
			return records, grants, events, runs, err
		}
		for _, r := range recs {
			want := r.Hash
			c := *r
			if err := dst.AppendAudit(ctx, &c); err != nil {
				return records, grants, events, runs, fmt.Errorf("copy audit record %d: %w", r.Seq, err)
			}
			if c.Seq != r.Seq || c.Hash != want {
				return records, grants, events, runs, fmt.Errorf("audit record %d copied as %d with hash %s, want %s", r.Seq, c.Seq, c.Hash, want)
			}
			records++
			last = r
		}
		if len(recs) < f.Limit {
			break
		}
		f.AfterSeq = recs[len(recs)-1].Seq
	}
	det := map[string]any{"grants": grants, "records": records, "events": events, "discovery_runs": runs}
	if last != nil {
		det["last_seq"], det["last_hash"] = last.Seq, last.Hash
	}
	done := &stint.AuditRecord{Time: time.Now(), Type: AuditStoreMigrated, Actor: stint.ActorStint,
		Reason: "copied by stint migrate", Details: det}
	return records, grants, events, runs, dst.AppendAudit(ctx, done)
}

func copyCursors(ctx context.Context, src stint.Store, sc stint.NotifyCursorStore, dst stint.Store) error {
	dc, ok := dst.(stint.NotifyCursorStore)
	if !ok {
		return fmt.Errorf("--to: this store cannot keep notification cursors")
	}
	lister, ok := src.(interface {
		NotifyCursors(ctx context.Context) ([]*stint.NotifyCursor, error)
	})
	if !ok {
		return fmt.Errorf("--from: this store keeps notification cursors but cannot list them")
	}
	cs, err := lister.NotifyCursors(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if _, err := dc.NotifyCursor(ctx, c.Target); err != nil {
			return err
		}
		if err := dc.SetNotifyCursor(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func copyExtras(ctx context.Context, src, dst stint.Store) (events, runs int, err error) {
	if se, ok := src.(stint.EventStore); ok {
		de, ok := dst.(stint.EventStore)
		if !ok {
			return 0, 0, fmt.Errorf("--to: this store cannot keep events")
		}
		evs, err := se.ListEvents(ctx, time.Time{})
		if err != nil {
			return 0, 0, err
		}
		for _, ev := range evs {
			if _, err := de.AppendEvent(ctx, ev, nil); err != nil {
				return events, 0, err
			}
			events++
		}
	}
	if sd, ok := src.(stint.DiscoveryStore); ok {
		dd, ok := dst.(stint.DiscoveryStore)
		if !ok {
			return events, 0, fmt.Errorf("--to: this store cannot keep discovery runs")
		}
		rs, err := sd.ListDiscoveries(ctx, "", 0)
		if err != nil {
			return events, 0, err
		}
		for i := len(rs) - 1; i >= 0; i-- { // oldest first, so the baseline stays the first run
			r := *rs[i]
			if err := dd.SaveDiscovery(ctx, &r, nil); err != nil {
				return events, runs, err
			}
			runs++
		}
	}
	return events, runs, nil
}
