package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/store/postgres"
	"github.com/stint-io/stint/store/storetest"
)

// pg is the cluster shared by the package's tests; nil when PostgreSQL is
// not installed (and STINT_REQUIRE_SERVICES unset), which skips them.
var (
	pg    *testenv.Postgres
	pgErr error
	dbSeq atomic.Int64
)

func TestMain(m *testing.M) {
	p, stop, err := testenv.StartPostgresProcess("")
	pg, pgErr = p, err
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// newDatabase creates an empty database and returns its DSN.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	if pgErr != nil {
		if pgErr == testenv.ErrNoPostgres && os.Getenv(testenv.EnvRequireServices) == "" {
			tb.Skip(pgErr.Error())
		}
		tb.Fatal(pgErr)
	}
	name := fmt.Sprintf("stint_test_%d", dbSeq.Add(1))
	pg.CreateDatabase(tb, name)
	return pg.DSN(name)
}

// mustOpen opens a store on dsn, closed at the end of the test.
func mustOpen(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dsn, stint.SystemClock, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustOpenStore opens a store on a new, empty database.
func MustOpenStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return mustOpen(tb, newDatabase(tb))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) stint.Store { return MustOpenStore(t) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("EmptyDSN", func(t *testing.T) {
		if _, err := postgres.Open(ctx, "", nil, nil); stint.ErrorCode(err) != stint.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("MalformedDSNHidesPassword", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://u:s3cret@host:notaport/db", nil, nil)
		if stint.ErrorCode(err) != stint.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
		if err != nil && contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		_, err := postgres.Open(ctx, "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2", nil, nil)
		if stint.ErrorCode(err) != stint.EUNAVAILABLE {
			t.Fatalf("err = %v, want EUNAVAILABLE", err)
		}
		if contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
	t.Run("ReplicasMigrateTogether", func(t *testing.T) {
		dsn := newDatabase(t)
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				s, err := postgres.Open(ctx, dsn, nil, nil)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		// Reopening finds everything applied and keeps the data.
		s := mustOpen(t, dsn)
		if err := s.AppendAudit(ctx, &stint.AuditRecord{Type: stint.AuditConfigLoaded, Actor: stint.ActorStint}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = mustOpen(t, dsn)
		var versions int
		if err := s.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil || versions == 0 {
			t.Fatalf("schema_migrations: %d rows, %v", versions, err)
		}
		if recs, err := s.ListAudit(ctx, stint.AuditFilter{}); err != nil || len(recs) != 1 {
			t.Fatalf("after reopen: %d records, %v", len(recs), err)
		}
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
