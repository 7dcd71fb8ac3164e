package audit_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stint-io/stint/internal/audit"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/store/sqlite"
)

// TestVerify_SQLite checks a chain written by the real SQLite store, then
// tampers with its rows directly, as someone with the file would.
func TestVerify_SQLite(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stint.db"), clocktest.New(start), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := chain(t, 2500)
	for _, r := range recs {
		r.Seq, r.PrevHash, r.Hash = 0, "", ""
	}
	for i := 0; i < len(recs); i += 500 {
		if err := s.AppendAudit(ctx, recs[i:i+500]...); err != nil {
			t.Fatal(err)
		}
	}
	res, err := audit.Verify(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != 2500 || res.LastSeq != 2500 {
		t.Fatalf("intact chain: %+v", res)
	}

	steps := []struct {
		name, sql string
		badSeq    int64
		problem   string
	}{
		{"Delete", `DELETE FROM audit WHERE seq = 1800`, 1800, "record 1800: expected seq 1800, found 1801 (record deleted)"},
		{"Edit", `UPDATE audit SET reason = 'nothing' WHERE seq = 17`, 17, "record 17: hash mismatch (record edited)"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if _, err := s.DB().ExecContext(ctx, st.sql); err != nil {
				t.Fatal(err)
			}
			res, err := audit.Verify(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.BadSeq != st.badSeq || res.Problem != st.problem {
				t.Fatalf("got %+v, want bad seq %d: %q", res, st.badSeq, st.problem)
			}
		})
	}
}
