package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/sqlite"
)

// benchGrants is the number of active grants already in the store during the
// benchmarks: $STINT_BENCH_GRANTS, default 100,000 (the target is measured
// with 1,000,000).
func benchGrants(b *testing.B) int {
	if v := os.Getenv("STINT_BENCH_GRANTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("STINT_BENCH_GRANTS: %v", err)
		}
		return n
	}
	return 100_000
}

// prefilled caches one store per size across benchmark runs, since filling
// a million grants takes seconds; TestMain removes them.
var (
	prefilled    = map[int]*sqlite.Store{}
	prefilledDir string
	fills        atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range prefilled {
		s.Close()
	}
	if prefilledDir != "" {
		os.RemoveAll(prefilledDir)
	}
	os.Exit(code)
}

// openPrefilled returns a store holding n active grants (and what earlier
// benchmarks left), due over the next day, spread over 1,000 principals and
// 50 access strings.
func openPrefilled(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	if s := prefilled[n]; s != nil {
		return s
	}
	if prefilledDir == "" {
		dir, err := os.MkdirTemp("", "stint-bench-")
		if err != nil {
			b.Fatal(err)
		}
		prefilledDir = dir
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(prefilledDir, fmt.Sprintf("%d.db", n)), stint.SystemClock, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	fill(b, s, n, "pre", time.Now().Add(time.Hour), int64(24*time.Hour/time.Second))
	b.Logf("prefilled %d grants in %v", n, time.Since(start).Round(time.Millisecond))
	prefilled[n] = s
	return s
}

// fill inserts n active grants with ids prefix+number, due from `due` on,
// one second apart modulo spread seconds, in one statement.
func fill(b *testing.B, s *sqlite.Store, n int, prefix string, due time.Time, spread int64) {
	b.Helper()
	now := time.Now().UnixNano()
	_, err := s.DB().Exec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
		INSERT INTO grants (id, principal, principal_kind, access, state, policy, reason, ticket,
			requested_ttl, ttl, max_ttl, requested_at, activated_at, expires_at, ended_at,
			approvals, approvals_required, approvers, approval_deadline, window_ref, break_glass,
			provider, revocation, detail, end_state, attempts, provider_data, due_at, version)
		SELECT ?2 || printf('%020d', i), 'svc/p' || (i % 1000), 'workload', 'r' || (i % 50) || '/role',
			'active', 'routine', 'bench', '', 0, 900000000000, 3600000000000, ?3, ?3,
			?4 + (i % ?5) * 1000000000, NULL, 'null', 0, 'null', NULL, 'null', 0, 'token', 'early', '', '',
			0, '{"kid":"k1"}', ?4 + (i % ?5) * 1000000000, 1
		FROM c`, n, prefix, now, due.UnixNano(), spread)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStore_RequestPath measures the store's share of a grant request:
// CreateGrant (issuing) then UpdateGrant (active), each with its audit
// record, from concurrent callers.
func BenchmarkStore_RequestPath(b *testing.B) {
	ctx := context.Background()
	s := openPrefilled(b, benchGrants(b))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now().UTC()
			g := &stint.Grant{ID: stint.NewID(now), Principal: "svc/bench", PrincipalKind: "workload",
				Access: "internal-api/admin", State: stint.StateIssuing, Policy: "routine", Reason: "bench",
				TTL: stint.Duration(10 * time.Minute), RequestedAt: now, Provider: "token",
				Revocation: stint.RevocationEarly}
			rec := &stint.AuditRecord{Time: now, Type: stint.AuditGrantRequested, Actor: g.Principal,
				GrantID: g.ID, Access: g.Access, Reason: g.Reason, Details: map[string]any{"policy": g.Policy}}
			if err := s.CreateGrant(ctx, g, rec); err != nil {
				b.Fatal(err)
			}
			exp := now.Add(10 * time.Minute)
			g.State, g.ActivatedAt, g.ExpiresAt, g.DueAt = stint.StateActive, &now, &exp, &exp
			rec = &stint.AuditRecord{Time: now, Type: stint.AuditGrantActivated, Actor: stint.ActorStint,
				GrantID: g.ID, Access: g.Access, Details: map[string]any{"expires_at": exp}}
			if err := s.UpdateGrant(ctx, g, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkStore_Expire10k measures expiring 10,000 due grants the way the
// expiry engine does: ClaimDue in batches, UpdateGrants to revoking, then
// UpdateGrants to expired, each update with its audit record.
func BenchmarkStore_Expire10k(b *testing.B) {
	const due, batch = 10_000, 1000
	ctx := context.Background()
	s := openPrefilled(b, benchGrants(b))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fill(b, s, due, "due"+strconv.FormatInt(fills.Add(1), 10)+"-", time.Now().Add(-time.Minute), 60)
		b.StartTimer()
		expired := 0
		for {
			now := time.Now().UTC()
			gs, err := s.ClaimDue(ctx, now, now.Add(time.Minute), batch)
			if err != nil {
				b.Fatal(err)
			}
			if len(gs) == 0 {
				break
			}
			for _, state := range []stint.State{stint.StateRevoking, stint.StateExpired} {
				ups := make([]stint.GrantUpdate, len(gs))
				for j, g := range gs {
					g.State = state
					typ := stint.AuditGrantRevoking
					if state == stint.StateExpired {
						g.EndedAt, g.DueAt, typ = &now, nil, stint.AuditGrantExpired
					}
					ups[j] = stint.GrantUpdate{Grant: g, Audit: &stint.AuditRecord{Time: now, Type: typ,
						Actor: stint.ActorStint, GrantID: g.ID, Access: g.Access}}
				}
				errs, err := s.UpdateGrants(ctx, ups)
				if err != nil {
					b.Fatal(err)
				}
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			expired += len(gs)
		}
		if expired != due {
			b.Fatalf("expired %d grants, want %d", expired, due)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/10k")
}

// BenchmarkOpen measures Open (and Close) on a store holding benchGrants
// grants: the server's start-up cost.
func BenchmarkOpen(b *testing.B) {
	path := openPrefilled(b, benchGrants(b)).Path()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := sqlite.Open(context.Background(), path, stint.SystemClock, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkStore_CountActive measures the active-grants gauge.
func BenchmarkStore_CountActive(b *testing.B) {
	s := openPrefilled(b, benchGrants(b))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.CountActive(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStore_ListGrants measures the first page of active grants.
func BenchmarkStore_ListGrants(b *testing.B) {
	s := openPrefilled(b, benchGrants(b))
	f := stint.GrantFilter{State: []stint.State{stint.StateActive, stint.StatePending}, Limit: 100}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if gs, _, err := s.ListGrants(context.Background(), f); err != nil || len(gs) != 100 {
			b.Fatal(len(gs), err)
		}
	}
}
