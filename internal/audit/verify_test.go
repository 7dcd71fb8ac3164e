package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeStore serves audit records from a slice, in slice order, as a store
// would serve them in seq order. Other Store methods are not used and panic.
type fakeStore struct {
	stint.Store
	recs     []*stint.AuditRecord
	maxLimit int   // the store's cap on Limit; 0: none
	err      error // ListAudit fails with err
	calls    int
}

func (s *fakeStore) ListAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	limit := f.Limit
	if s.maxLimit > 0 && (limit <= 0 || limit > s.maxLimit) {
		limit = s.maxLimit
	}
	var out []*stint.AuditRecord
	for _, r := range s.recs {
		if r.Seq > f.AfterSeq && (limit <= 0 || len(out) < limit) {
			c := *r
			out = append(out, &c)
		}
	}
	return out, nil
}

// chain returns n records chained with Seal, with varied content.
func chain(tb testing.TB, n int) []*stint.AuditRecord {
	tb.Helper()
	types := []string{stint.AuditGrantRequested, stint.AuditGrantApproved, stint.AuditGrantActivated, stint.AuditGrantExpired}
	recs := make([]*stint.AuditRecord, n)
	prevSeq, prevHash := int64(0), stint.GenesisHash
	for i := range recs {
		r := &stint.AuditRecord{
			Time:    start.Add(time.Duration(i) * time.Second),
			Type:    types[i%len(types)],
			Actor:   "alice@example.com",
			GrantID: fmt.Sprintf("grant%04d", i/4),
			Access:  "prod-db/readonly",
			Reason:  fmt.Sprintf("ticket OPS-%d", i),
		}
		if i%3 == 0 {
			r.Details = map[string]any{"ttl": "1h", "approvers": []any{"bob", "carol"}, "n": float64(i)}
		}
		if err := r.Seal(prevSeq, prevHash); err != nil {
			tb.Fatal(err)
		}
		prevSeq, prevHash = r.Seq, r.Hash
		recs[i] = r
	}
	return recs
}

// reseal recomputes the hash of r after an edit, as a careful forger would.
func reseal(tb testing.TB, r *stint.AuditRecord) {
	tb.Helper()
	h, err := r.ComputeHash()
	if err != nil {
		tb.Fatal(err)
	}
	r.Hash = h
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		tamper  func(recs []*stint.AuditRecord) []*stint.AuditRecord
		badSeq  int64
		problem string
	}{
		{name: "Empty", n: 0},
		{name: "One", n: 1},
		{name: "Intact", n: 40},
		{
			name:    "EditedReason",
			n:       40,
			tamper:  func(r []*stint.AuditRecord) []*stint.AuditRecord { r[16].Reason = "nothing to see"; return r },
			badSeq:  17,
			problem: "record 17: hash mismatch (record edited)",
		},
		{
			name: "EditedDetails",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				r[3].Details["approvers"] = []any{"bob"}
				return r
			},
			badSeq:  4,
			problem: "record 4: hash mismatch (record edited)",
		},
		{
			name:    "EditedTime",
			n:       40,
			tamper:  func(r []*stint.AuditRecord) []*stint.AuditRecord { r[9].Time = r[9].Time.Add(time.Hour); return r },
			badSeq:  10,
			problem: "record 10: hash mismatch (record edited)",
		},
		{
			name:    "EditedHash",
			n:       40,
			tamper:  func(r []*stint.AuditRecord) []*stint.AuditRecord { r[9].Hash = strings.ToUpper(r[9].Hash); return r },
			badSeq:  10,
			problem: "record 10: hash mismatch (record edited)",
		},
		{
			name: "EditedAndResealed",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				r[16].Actor = "mallory"
				reseal(t, r[16])
				return r
			},
			badSeq:  18,
			problem: "record 18: prev_hash does not match record 17",
		},
		{
			name:    "Deleted",
			n:       40,
			tamper:  func(r []*stint.AuditRecord) []*stint.AuditRecord { return append(r[:17:17], r[18:]...) },
			badSeq:  18,
			problem: "record 18: expected seq 18, found 19 (record deleted)",
		},
		{
			name:    "DeletedFirst",
			n:       40,
			tamper:  func(r []*stint.AuditRecord) []*stint.AuditRecord { return r[1:] },
			badSeq:  1,
			problem: "record 1: expected seq 1, found 2 (record deleted)",
		},
		{
			name: "DeletedAndRenumbered",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				r = append(r[:17:17], r[18:]...)
				for i := 17; i < len(r); i++ {
					r[i].Seq--
					reseal(t, r[i])
				}
				return r
			},
			badSeq:  18,
			problem: "record 18: prev_hash does not match record 17",
		},
		{
			name: "Reordered",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				r[4], r[5] = r[5], r[4]
				return r
			},
			badSeq:  5,
			problem: "record 5: expected seq 5, found 6 (record deleted)",
		},
		{
			name: "SwappedContent",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				// Swap two records but keep their places in the sequence.
				r[4], r[5] = r[5], r[4]
				r[4].Seq, r[5].Seq = 5, 6
				return r
			},
			badSeq:  5,
			problem: "record 5: prev_hash does not match record 4",
		},
		{
			name: "Duplicated",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				c := *r[39]
				return append(r, &c)
			},
			badSeq:  41,
			problem: "record 41: expected seq 41, found 40 (record reordered or duplicated)",
		},
		{
			name: "Inserted",
			n:    40,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				forged := &stint.AuditRecord{Time: start, Type: stint.AuditGrantApproved, Actor: "mallory"}
				if err := forged.Seal(r[9].Seq, r[9].Hash); err != nil {
					t.Fatal(err)
				}
				out := append(append(r[:10:10], forged), r[10:]...)
				for i := 11; i < len(out); i++ {
					out[i].Seq++
				}
				return out
			},
			badSeq:  12,
			problem: "record 12: prev_hash does not match record 11",
		},
		{
			name: "BadGenesis",
			n:    3,
			tamper: func(r []*stint.AuditRecord) []*stint.AuditRecord {
				r[0].PrevHash = strings.Repeat("1", 64)
				reseal(t, r[0])
				return r
			},
			badSeq:  1,
			problem: "record 1: prev_hash is not the genesis hash",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := chain(t, tt.n)
			if tt.tamper != nil {
				recs = tt.tamper(recs)
			}
			res, err := audit.Verify(context.Background(), &fakeStore{recs: recs})
			if err != nil {
				t.Fatal(err)
			}
			wantOK := tt.problem == ""
			if res.OK != wantOK || res.BadSeq != tt.badSeq || res.Problem != tt.problem {
				t.Fatalf("got %+v, want ok=%v bad_seq=%d problem=%q", res, wantOK, tt.badSeq, tt.problem)
			}
			if res.Records != int64(len(recs)) {
				t.Errorf("Records = %d, want %d", res.Records, len(recs))
			}
		})
	}
}

func TestVerify_Paging(t *testing.T) {
	tests := []struct {
		name      string
		maxLimit  int
		wantCalls int
	}{
		{"PageSize", 0, 4},          // 1000, 1000, 500, then an empty page
		{"StoreCapsLimit", 300, 10}, // 9 pages of up to 300, then an empty one
	}
	recs := chain(t, 2500)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeStore{recs: recs, maxLimit: tt.maxLimit}
			res, err := audit.Verify(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Records != 2500 || res.LastSeq != 2500 {
				t.Fatalf("got %+v", res)
			}
			if s.calls != tt.wantCalls {
				t.Errorf("ListAudit called %d times, want %d", s.calls, tt.wantCalls)
			}
		})
	}
	t.Run("EditOnALaterPage", func(t *testing.T) {
		bad := chain(t, 2500)
		bad[2199].Type = stint.AuditGrantRevoked
		res, err := audit.Verify(context.Background(), &fakeStore{recs: bad})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.BadSeq != 2200 || res.Records != 2500 || res.LastSeq != 2500 {
			t.Fatalf("got %+v", res)
		}
	})
}

func TestVerify_StoreError(t *testing.T) {
	down := stint.Errorf(stint.EUNAVAILABLE, "store down")
	_, err := audit.Verify(context.Background(), &fakeStore{err: down})
	if !errors.Is(err, down) || stint.ErrorCode(err) != stint.EUNAVAILABLE {
		t.Fatalf("err = %v, want the store's EUNAVAILABLE", err)
	}
}
