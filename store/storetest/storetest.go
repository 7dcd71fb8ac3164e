// Package storetest is the conformance suite of stint.Store. Every
// implementation runs it against a real database:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) stint.Store { return MustOpenStore(t) })
//	}
//
// open must return a new, empty store for each call and close it at the end
// of the test (t.Cleanup). Times are compared as instants; grant times are
// whole microseconds so that a store keeping microseconds passes, while audit
// times keep nanoseconds, since the hash covers them.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open func(t *testing.T) stint.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) stint.Store)
	}{
		{"CreateGrant", testCreateGrant},
		{"GetGrant", testGetGrant},
		{"UpdateGrant", testUpdateGrant},
		{"UpdateGrants", testUpdateGrants},
		{"ListGrants", testListGrants},
		{"ListGrantsDefaultLimit", testDefaultLimit},
		{"CountActive", testCountActive},
		{"NextDue", testNextDue},
		{"ClaimDue", testClaimDue},
		{"AppendAudit", testAppendAudit},
		{"ListAudit", testListAudit},
		{"Concurrency", testConcurrency},
		{"Discovery", testDiscovery},
		{"Events", testEvents},
		{"PolicyFilter", testPolicyFilter},
		{"NotifyCursors", testNotifyCursors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// Base is the time around which the suite's fixtures are built.
var Base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// NewGrant returns a grant with every field set, created at `at` (which
// also makes its id), for principal p and access a. Its DueAt is its expiry.
func NewGrant(at time.Time, p, a string, state stint.State) *stint.Grant {
	at = at.Truncate(time.Microsecond)
	act, exp := at.Add(time.Second), at.Add(15*time.Minute)
	return &stint.Grant{
		ID:            stint.NewID(at),
		Principal:     p,
		PrincipalKind: "workload",
		Access:        a,
		State:         state,
		Policy:        "ci-migrations",
		Reason:        "deploy <v2> & migrate \"now\"",
		Ticket:        "OPS-123",
		RequestedTTL:  stint.Duration(20 * time.Minute),
		TTL:           stint.Duration(15 * time.Minute),
		MaxTTL:        stint.Duration(time.Hour),
		RequestedAt:   at,
		ActivatedAt:   &act,
		ExpiresAt:     &exp,
		Approvals: []stint.Approval{
			{By: "alice@example.com", Decision: "approved", At: at.Add(500 * time.Millisecond), Comment: "ok"},
			{By: "bob@example.com", Decision: "approved", At: at.Add(700 * time.Millisecond)},
		},
		ApprovalsRequired: 2,
		Approvers:         []string{"group:db-owners", "carol@example.com"},
		ApprovalDeadline:  stint.TimePtr(at.Add(30 * time.Minute)),
		Window: &stint.WindowRef{Policy: "nightly", Key: "INC-1",
			Opens: at.Add(-time.Hour), Closes: at.Add(time.Hour)},
		BreakGlass:   true,
		Provider:     "postgres",
		Revocation:   stint.RevocationEarly,
		Detail:       "fine",
		EndState:     stint.StateExpired,
		Attempts:     2,
		ProviderData: map[string]string{"role": "stint_x", "kid": "k1"},
		DueAt:        &exp,
	}
}

// NewRecord returns an audit record of type typ about grant g (may be nil),
// with details of several JSON kinds.
func NewRecord(at time.Time, typ string, g *stint.Grant) *stint.AuditRecord {
	r := &stint.AuditRecord{
		Time:   at,
		Type:   typ,
		Actor:  "svc/nightly-backup",
		Reason: "because <reasons> & more",
		Details: map[string]any{
			"int":    42,
			"big":    int64(1) << 60,
			"float":  1.5,
			"tiny":   1e-7,
			"bool":   true,
			"null":   nil,
			"str":    "é <b> \u2028 \"q\"",
			"list":   []any{1, "two", 3.25},
			"nested": map[string]any{"z": 1, "a": map[string]string{"k": "v"}},
		},
	}
	if g != nil {
		r.GrantID, r.Access = g.ID, g.Access
	}
	return r
}

// normGrant returns a copy of g for comparison: times in UTC without
// monotonic readings, empty collections as nil, Version zeroed.
func normGrant(g *stint.Grant) *stint.Grant {
	c := g.Clone()
	c.Version = 0
	c.RequestedAt = c.RequestedAt.UTC()
	for _, p := range []**time.Time{&c.ActivatedAt, &c.ExpiresAt, &c.EndedAt, &c.ApprovalDeadline, &c.DueAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	for i := range c.Approvals {
		c.Approvals[i].At = c.Approvals[i].At.UTC()
	}
	if len(c.Approvals) == 0 {
		c.Approvals = nil
	}
	if len(c.Approvers) == 0 {
		c.Approvers = nil
	}
	if len(c.ProviderData) == 0 {
		c.ProviderData = nil
	}
	if c.Window != nil {
		c.Window.Opens, c.Window.Closes = c.Window.Opens.UTC(), c.Window.Closes.UTC()
	}
	return c
}

// assertGrant fails t unless got equals want field by field, with its
// top-level times in UTC.
func assertGrant(t *testing.T, got, want *stint.Grant) {
	t.Helper()
	if got == nil {
		t.Fatalf("grant %s: got nil", want.ID)
	}
	for name, tm := range map[string]*time.Time{
		"RequestedAt": &got.RequestedAt, "ActivatedAt": got.ActivatedAt, "ExpiresAt": got.ExpiresAt,
		"EndedAt": got.EndedAt, "ApprovalDeadline": got.ApprovalDeadline, "DueAt": got.DueAt,
	} {
		if tm != nil && !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("grant %s: %s location = %v, want UTC", want.ID, name, tm.Location())
		}
	}
	g, w := normGrant(got), normGrant(want)
	if !reflect.DeepEqual(g, w) {
		gv, wv := reflect.ValueOf(*g), reflect.ValueOf(*w)
		for i := 0; i < gv.NumField(); i++ {
			if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
				t.Errorf("grant %s: %s = %s, want %s", want.ID, gv.Type().Field(i).Name,
					show(gv.Field(i).Interface()), show(wv.Field(i).Interface()))
			}
		}
	}
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return fmt.Sprintf("&%+v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v)
}

// assertCode fails t unless err has the error code want.
func assertCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := stint.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

// mustCreate creates g with a grant.requested record, or fails t.
func mustCreate(t *testing.T, s stint.Store, g *stint.Grant) {
	t.Helper()
	if err := s.CreateGrant(context.Background(), g, NewRecord(g.RequestedAt, stint.AuditGrantRequested, g)); err != nil {
		t.Fatalf("CreateGrant(%s): %v", g.ID, err)
	}
}

// allAudit returns every audit record of s, paging with AfterSeq.
func allAudit(t *testing.T, s stint.Store) []*stint.AuditRecord {
	t.Helper()
	var all []*stint.AuditRecord
	var after int64
	for {
		recs, err := s.ListAudit(context.Background(), stint.AuditFilter{AfterSeq: after, Limit: 500})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
		after = recs[len(recs)-1].Seq
	}
}

// VerifyChain fails t unless recs, read from the start of the trail, form an
// intact chain: seq 1, 2, 3, ..., each PrevHash the previous Hash (the first
// GenesisHash), each Hash recomputing.
func VerifyChain(t *testing.T, recs []*stint.AuditRecord) {
	t.Helper()
	prev := stint.GenesisHash
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d: seq = %d, want %d", i, r.Seq, i+1)
		}
		if r.PrevHash != prev {
			t.Fatalf("record %d: prev_hash = %s, want %s", r.Seq, r.PrevHash, prev)
		}
		h, err := r.ComputeHash()
		if err != nil {
			t.Fatalf("record %d: ComputeHash: %v", r.Seq, err)
		}
		if h != r.Hash {
			c, _ := r.CanonicalJSON()
			t.Fatalf("record %d: hash = %s, recomputed %s over %s", r.Seq, r.Hash, h, c)
		}
		prev = r.Hash
	}
}
