// Package audit checks and exports the tamper-evident audit trail. The
// canonical encoding and the hash of one record live in the root package
// (stint.AuditRecord.CanonicalJSON, ComputeHash, Seal); this package checks
// a whole chain and writes records out.
package audit

import (
	"context"
	"fmt"

	"github.com/stint-io/stint"
)

// PageSize is how many records Verify asks the store for at a time.
const PageSize = 1000

// Verify reads the whole audit trail from store, oldest first, and checks
// the hash chain: sequence numbers run from 1 without a gap, each record's
// PrevHash is the previous record's Hash (GenesisHash for the first), and
// each Hash is the hash of the record's content. The result names the first
// bad record; an edited, deleted, inserted or reordered record shows there.
// Records removed from the end of the trail cannot be detected by the chain
// alone: compare LastSeq with a value kept elsewhere. Records and LastSeq
// count every record read, past the first bad one too.
//
// It returns an error only when the store fails (its code is the store's).
func Verify(ctx context.Context, store stint.Store) (*stint.AuditVerifyResult, error) {
	v := verifier{res: &stint.AuditVerifyResult{OK: true}, prevHash: stint.GenesisHash}
	after := int64(0)
	for {
		page, err := store.ListAudit(ctx, stint.AuditFilter{AfterSeq: after, Limit: PageSize})
		if err != nil {
			return nil, fmt.Errorf("audit: verify: %w", err)
		}
		if len(page) == 0 {
			break
		}
		next := after
		for _, rec := range page {
			v.check(rec)
			next = max(next, rec.Seq)
		}
		if next == after {
			// The store returned records that do not page forward; a
			// sound store never does, and asking again would loop.
			v.fail(page[0].Seq, fmt.Sprintf("record %d: out of order after record %d", page[0].Seq, after))
			break
		}
		after = next
	}
	return v.res, nil
}

// verifier checks records one at a time.
type verifier struct {
	res      *stint.AuditVerifyResult
	prevSeq  int64
	prevHash string
}

// check checks rec, the record after the ones already checked. After the
// first bad record it only counts.
func (v *verifier) check(rec *stint.AuditRecord) {
	v.res.Records++
	v.res.LastSeq = max(v.res.LastSeq, rec.Seq)
	if !v.res.OK {
		return
	}
	want := v.prevSeq + 1
	switch {
	case rec.Seq > want:
		v.fail(want, fmt.Sprintf("record %d: expected seq %d, found %d (record deleted)", want, want, rec.Seq))
		return
	case rec.Seq < want:
		v.fail(want, fmt.Sprintf("record %d: expected seq %d, found %d (record reordered or duplicated)", want, want, rec.Seq))
		return
	case rec.PrevHash != v.prevHash:
		if want == 1 {
			v.fail(rec.Seq, "record 1: prev_hash is not the genesis hash")
		} else {
			v.fail(rec.Seq, fmt.Sprintf("record %d: prev_hash does not match record %d", rec.Seq, v.prevSeq))
		}
		return
	}
	h, err := rec.ComputeHash()
	if err != nil {
		v.fail(rec.Seq, fmt.Sprintf("record %d: cannot be encoded: %v", rec.Seq, err))
		return
	}
	if h != rec.Hash {
		v.fail(rec.Seq, fmt.Sprintf("record %d: hash mismatch (record edited)", rec.Seq))
		return
	}
	v.prevSeq, v.prevHash = rec.Seq, rec.Hash
}

func (v *verifier) fail(seq int64, problem string) {
	v.res.OK, v.res.BadSeq, v.res.Problem = false, seq, problem
}
