package audit_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

// wholeStore returns every record, in slice order, on the first call, and
// nothing after: it hides no record from Verify whatever its seq.
type wholeStore struct {
	stint.Store
	recs []*stint.AuditRecord
}

func (s *wholeStore) ListAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	if f.AfterSeq != 0 {
		return nil, nil
	}
	return s.recs, nil
}

// fingerprint is what the chain commits to for one record: its canonical
// content and its stored hash. Records with equal fingerprints are the same
// record, however their JSON was spelled.
func fingerprint(tb testing.TB, r *stint.AuditRecord) string {
	c, err := r.CanonicalJSON()
	if err != nil {
		tb.Fatalf("canonical: %v", err)
	}
	return string(c) + "|" + r.Hash
}

// fuzzChain is the reference chain the fuzz inputs are mutations of.
func fuzzChain(tb testing.TB) []byte {
	var buf bytes.Buffer
	if err := audit.WriteJSONLines(&buf, chain(tb, 6)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzVerify mutates a serialized chain and checks that Verify never panics
// and never reports OK for a chain whose content differs from the original,
// unless records were only removed from its end (which a hash chain cannot
// show).
func FuzzVerify(f *testing.F) {
	ref := fuzzChain(f)
	f.Add(ref)
	want, err := decodeLines(ref)
	if err != nil {
		f.Fatal(err)
	}
	wantFP := make([]string, len(want))
	for i, r := range want {
		wantFP[i] = fingerprint(f, r)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeLines(data)
		if err != nil {
			return // not a chain of records at all
		}
		res, err := audit.Verify(context.Background(), &wholeStore{recs: recs})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if res.Records != int64(len(recs)) {
			t.Fatalf("Records = %d, want %d", res.Records, len(recs))
		}
		if !res.OK {
			if res.Problem == "" {
				t.Fatalf("bad chain without a problem: %+v", res)
			}
			return
		}
		// OK: the chain must be a prefix of the original.
		if len(recs) > len(want) {
			t.Fatalf("OK for %d records, the original has %d", len(recs), len(want))
		}
		for i, r := range recs {
			if fingerprint(t, r) != wantFP[i] {
				t.Fatalf("OK for a chain whose record %d changed:\n%s\nwas\n%s", i+1, fingerprint(t, r), wantFP[i])
			}
		}
	})
}
