package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/store/sqlite"
	"github.com/stint-io/stint/store/storetest"
)

// MustOpenStore opens a store in a new temporary directory, closed at the end
// of the test.
func MustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), "stint.db"))
}

func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, stint.SystemClock, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) stint.Store { return MustOpenStore(t) })
}

func TestOpen(t *testing.T) {
	t.Run("EmptyPath", func(t *testing.T) {
		_, err := sqlite.Open(context.Background(), "", stint.SystemClock, nil)
		if stint.ErrorCode(err) != stint.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("NewDirectoryAndMode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "dir", "stint.db")
		s := mustOpen(t, path)
		if s.Path() != path {
			t.Errorf("Path = %q, want %q", s.Path(), path)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	})
	t.Run("Pragmas", func(t *testing.T) {
		db := MustOpenStore(t).DB()
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "10000",
		} {
			var got string
			if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s = %s, want %s", pragma, got, want)
			}
		}
	})
	t.Run("OddPath", func(t *testing.T) {
		mustOpen(t, filepath.Join(t.TempDir(), "a b?c#d%20.db"))
	})
}

func TestOpen_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stint.db")
	s := mustOpen(t, path)
	g := storetest.NewGrant(storetest.Base, "svc/a", "a/b", stint.StateActive)
	if err := s.CreateGrant(ctx, g, storetest.NewRecord(storetest.Base, stint.AuditGrantRequested, g)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGrant(ctx, g, nil); err == nil {
		t.Error("CreateGrant after Close succeeded")
	}

	for i := range 2 {
		s := mustOpen(t, path)
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob("migrations/*.sql")
		if n != len(files) {
			t.Errorf("open %d: %d migrations recorded, want %d", i, n, len(files))
		}
		got, err := s.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 1 {
			t.Errorf("Version = %d", got.Version)
		}
		// The chain continues from the stored head.
		if err := s.AppendAudit(ctx, storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
		recs, err := s.ListAudit(ctx, stint.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != i+2 {
			t.Fatalf("%d records, want %d", len(recs), i+2)
		}
		storetest.VerifyChain(t, recs)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStore_AuditTamper(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	for range 3 {
		if err := s.AppendAudit(ctx, storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().Exec(`UPDATE audit SET reason = 'nothing to see' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, stint.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		h, err := r.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		if tampered := h != r.Hash; tampered != (r.Seq == 2) {
			t.Errorf("record %d: hash mismatch %v", r.Seq, tampered)
		}
	}
}

// A second writer (here: a row written by hand) must not fork the chain: the
// store notices the taken seq, fails that write, and continues after it.
func TestStore_ForeignWriter(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	first := storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	foreign := storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)
	if err := foreign.Seal(first.Seq, first.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`INSERT INTO audit (seq, time, type, actor, access, reason, prev_hash, hash)
		VALUES (?, ?, ?, ?, '', ?, ?, ?)`, foreign.Seq, foreign.Time.UnixNano(), foreign.Type, foreign.Actor,
		foreign.Reason, foreign.PrevHash, foreign.Hash); err != nil {
		t.Fatal(err)
	}
	foreign.Details = nil
	if err := s.AppendAudit(ctx, storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)); err == nil {
		t.Fatal("append over a foreign record succeeded")
	}
	if err := s.AppendAudit(ctx, storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, stint.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	// Record 2 was sealed with details the row does not hold; check the links.
	if recs[2].PrevHash != recs[1].Hash {
		t.Errorf("chain forked: record 3 prev %s, record 2 hash %s", recs[2].PrevHash, recs[1].Hash)
	}
}

// TestStore_QueryPlans checks that the hot queries use their indexes, so that
// they stay fast with a million grants.
func TestStore_QueryPlans(t *testing.T) {
	db := MustOpenStore(t).DB()
	now := time.Now().UnixNano()
	for _, q := range []struct {
		sql  string
		args []any
		want string
	}{
		{`SELECT due_at FROM grants WHERE due_at IS NOT NULL ORDER BY due_at LIMIT 1`, nil, "grants_due"},
		{`SELECT rowid FROM grants WHERE due_at <= ?1 AND (claimed_until IS NULL OR claimed_until < ?1) ORDER BY due_at LIMIT 10`, []any{now}, "grants_due"},
		{`SELECT access, COUNT(*) FROM grants INDEXED BY grants_active_access WHERE state = 'active' GROUP BY access`, nil, "grants_active_access"},
		{`SELECT * FROM grants WHERE state IN (?) ORDER BY id DESC LIMIT 101`, []any{"active"}, "grants_state"},
		{`SELECT * FROM grants WHERE principal = ? ORDER BY id DESC LIMIT 101`, []any{"p"}, "grants_principal"},
		{`SELECT * FROM grants WHERE access = ? ORDER BY id DESC LIMIT 101`, []any{"a/b"}, "grants_access"},
		{`SELECT * FROM audit WHERE seq > ? AND grant_id = ? ORDER BY seq LIMIT 10`, []any{0, "g"}, "audit_grant"},
		{`SELECT seq FROM audit WHERE time >= ? ORDER BY time, seq LIMIT 1`, []any{now}, "audit_time"},
	} {
		rows, err := db.Query(`EXPLAIN QUERY PLAN `+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, q.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant index %s without a sort", q.sql, p, q.want)
		}
	}
}
