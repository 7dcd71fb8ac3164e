// Command postgres measures the postgres provider against a throwaway
// PostgreSQL (started like the tests start it) and prints its figures next
// to the raw pgx floor: CREATE ROLE with a plaintext password (hashed by the
// server) plus GRANT, on the same number of connections. It prints figures
// and asserts nothing.
//
//	go run ./bench/postgres [-n 2000] [-clients 8] [-revoke 1000] [-workers 32] [-mem 10000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/provider/postgres"
)

func main() {
	n := flag.Int("n", 2000, "creates per issue run")
	clients := flag.Int("clients", 8, "concurrent clients (and raw pgx connections)")
	seq := flag.Int("seq", 200, "sequential issues")
	nrev := flag.Int("revoke", 1000, "grants revoked together")
	workers := flag.Int("workers", 32, "concurrent revocation workers")
	nmem := flag.Int("mem", 10000, "grants for the memory figure")
	flag.Parse()
	if err := run(*n, *clients, *seq, *nrev, *workers, *nmem); err != nil {
		fmt.Fprintln(os.Stderr, "bench/postgres:", err)
		os.Exit(1)
	}
}

func run(n, clients, seq, nrev, workers, nmem int) error {
	pg, stop, err := testenv.StartPostgresProcess("")
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	if err := pg.ExecDB(ctx, "postgres", "CREATE DATABASE bench"); err != nil {
		return err
	}
	if err := pg.ExecDB(ctx, "bench", "CREATE ROLE bench_reader NOLOGIN"); err != nil {
		return err
	}
	fmt.Printf("PostgreSQL on 127.0.0.1:%d (fsync=off), GOMAXPROCS=%d\n\n", pg.Port, runtime.GOMAXPROCS(0))

	raw, err := rawFloor(ctx, pg.DSN("bench"), n, clients)
	if err != nil {
		return fmt.Errorf("raw floor: %w", err)
	}
	p, err := postgres.Open(stint.ResourceSpec{
		Name:  "bench-db",
		Clock: stint.SystemClock,
		Decode: decoder(postgres.Config{
			DSN:   pg.DSN("bench"),
			Roles: map[string]postgres.RoleConfig{"readonly": {Grant: []string{"bench_reader"}}},
		}),
	})
	if err != nil {
		return err
	}
	defer p.Close()

	conc, grants, err := issueRun(ctx, p, n, clients)
	if err != nil {
		return fmt.Errorf("provider issue: %w", err)
	}
	seqRes, seqGrants, err := issueRun(ctx, p, seq, 1)
	if err != nil {
		return fmt.Errorf("provider sequential issue: %w", err)
	}
	fmt.Printf("%-44s %10s %10s %12s\n", "issue (create role + membership)", "p50", "p99", "throughput")
	raw.print(fmt.Sprintf("raw pgx, plaintext password, %d conns", clients))
	conc.print(fmt.Sprintf("provider Issue, %d clients", clients))
	seqRes.print("provider Issue, sequential")
	fmt.Println()

	// Clean the issue runs (not measured), then the revocation run.
	if _, err := revokeRun(ctx, p, append(grants, seqGrants...), workers); err != nil {
		return err
	}
	_, toRevoke, err := issueRun(ctx, p, nrev, clients)
	if err != nil {
		return err
	}
	rev, err := revokeRun(ctx, p, toRevoke, workers)
	if err != nil {
		return fmt.Errorf("provider revoke: %w", err)
	}
	fmt.Printf("%-44s %10s %10s %12s\n", "revocation (all due together)", "p50", "p99", "throughput")
	rev.print(fmt.Sprintf("provider Revoke, %d grants, %d workers", nrev, workers))
	fmt.Println()

	// Memory per active grant: heap after GC before and after issuing; the
	// bench drops its grant records (the broker keeps them in its store), so
	// the difference is what the provider holds per outstanding grant.
	before := heap()
	if _, _, err := issueRun(ctx, p, nmem, clients); err != nil {
		return err
	}
	after := heap()
	fmt.Printf("memory: heap %s before, %s after issuing %d grants (all still active): %+.1f bytes per active grant\n",
		mb(before), mb(after), nmem, (float64(after)-float64(before))/float64(nmem))
	return nil
}

// result is one measured run.
type result struct {
	lat  []time.Duration
	wall time.Duration
}

func (r result) print(label string) {
	slices.Sort(r.lat)
	q := func(f float64) time.Duration { return r.lat[int(f*float64(len(r.lat)-1))] }
	fmt.Printf("%-44s %10s %10s %10.0f/s\n", label, q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond),
		float64(len(r.lat))/r.wall.Seconds())
}

// parallel runs op(i) for i in [0, n) on k goroutines and times each call.
func parallel(n, k int, op func(i int) error) (result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range k {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return result{lat: lat, wall: time.Since(start)}, firstErr
}

// rawFloor creates n login roles with a plaintext password and a GRANT on
// k connections, the way a direct pgx client would.
func rawFloor(ctx context.Context, dsn string, n, k int) (result, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return result{}, err
	}
	cfg.MaxConns = int32(k)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return result{}, err
	}
	defer pool.Close()
	res, err := parallel(n, k, func(i int) error {
		name := pgx.Identifier{fmt.Sprintf("raw_%d", i)}.Sanitize()
		if _, err := pool.Exec(ctx, "CREATE ROLE "+name+" LOGIN PASSWORD 'raw-password-"+fmt.Sprint(i)+"'", pgx.QueryExecModeSimpleProtocol); err != nil {
			return err
		}
		_, err := pool.Exec(ctx, "GRANT bench_reader TO "+name, pgx.QueryExecModeSimpleProtocol)
		return err
	})
	if err != nil {
		return res, err
	}
	_, err = parallel(n, k, func(i int) error {
		_, err := pool.Exec(ctx, "DROP ROLE "+pgx.Identifier{fmt.Sprintf("raw_%d", i)}.Sanitize(), pgx.QueryExecModeSimpleProtocol)
		return err
	})
	return res, err
}

func issueRun(ctx context.Context, p *postgres.Provider, n, k int) (result, []*stint.Grant, error) {
	grants := make([]*stint.Grant, n)
	now := time.Now().UTC()
	for i := range grants {
		grants[i] = &stint.Grant{
			ID: stint.NewID(now), Access: "bench-db/readonly", State: stint.StateIssuing,
			ActivatedAt: stint.TimePtr(now), ExpiresAt: stint.TimePtr(now.Add(time.Hour)),
		}
	}
	res, err := parallel(n, k, func(i int) error {
		_, err := p.Issue(ctx, grants[i])
		return err
	})
	return res, grants, err
}

func revokeRun(ctx context.Context, p *postgres.Provider, grants []*stint.Grant, k int) (result, error) {
	return parallel(len(grants), k, func(i int) error { return p.Revoke(ctx, grants[i]) })
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// decoder returns a ResourceSpec.Decode that copies c into the provider's Config.
func decoder(c postgres.Config) func(v any) error {
	return func(v any) error {
		dst, ok := v.(*postgres.Config)
		if !ok {
			return fmt.Errorf("decode into %T", v)
		}
		*dst = c
		return nil
	}
}
