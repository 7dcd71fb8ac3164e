package postgres_test

import (
	"context"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
	"github.com/stint-io/stint/store/storetest"
)

func TestStore_AuditTamper(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	appendN(t, s, 3)
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK || res.Records != 3 {
		t.Fatalf("verify = %+v, %v; want OK with 3", res, err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE audit SET reason = 'edited' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, s); err != nil || res.OK || res.BadSeq != 2 {
		t.Fatalf("verify after tampering = %+v, %v; want bad at 2", res, err)
	}
}

func TestStore_UnstorableText(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	tests := []struct {
		name  string
		write func() error
	}{
		{"GrantReason", func() error {
			g := storetest.NewGrant(storetest.Base, "svc/a", "a/b", stint.StateActive)
			g.Reason = "nul \x00 byte"
			return s.CreateGrant(ctx, g, storetest.NewRecord(storetest.Base, stint.AuditGrantRequested, g))
		}},
		{"RecordReason", func() error {
			r := storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil)
			r.Reason = "nul \x00 byte"
			return s.AppendAudit(ctx, storetest.NewRecord(storetest.Base, stint.AuditConfigLoaded, nil), r)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); stint.ErrorCode(err) != stint.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
	// Nothing was written and the chain continues from the start.
	appendN(t, s, 1)
	if res, err := audit.Verify(ctx, s); err != nil || !res.OK || res.Records != 1 {
		t.Fatalf("verify = %+v, %v; want OK with 1", res, err)
	}
}
