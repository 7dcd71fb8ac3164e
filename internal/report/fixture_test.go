package report_test

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/store/sqlite"
)

// T is the start of the period of the tests; they report on [T, T+24h).
var T = time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// MustOpenStore opens a SQLite store in a temporary directory.
func MustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "stint.db"), clocktest.New(T), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// listingStore hides the store's stint.ReportStore, so that the report reads
// through the listings (the path of stores without it).
type listingStore struct {
	stint.Store
	stint.DiscoveryStore
}

// fixture writes grants and records as the broker would.
type fixture struct {
	t *testing.T
	s *sqlite.Store
}

// idAt returns the grant id stint.NewID would make at t, with its random
// bits zero, so that tests can name it.
func idAt(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	return base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// grant returns a grant requested at T+at under policy, in state.
func grant(at time.Duration, policy string, state stint.State) *stint.Grant {
	req := T.Add(at)
	return &stint.Grant{
		ID: idAt(req), Principal: "svc/app", PrincipalKind: stint.KindWorkload,
		Access: "db/readonly", State: state, Policy: policy, Reason: "test",
		TTL: stint.Duration(time.Hour), RequestedAt: req, Approvals: []stint.Approval{},
		Provider: "exec", Revocation: stint.RevocationEarly,
	}
}

// ended sets g's activation (after its request) and end (session after
// activation), and its TTL.
func ended(g *stint.Grant, after, session, ttl time.Duration) *stint.Grant {
	act := g.RequestedAt.Add(after)
	g.ActivatedAt, g.EndedAt = stint.TimePtr(act), stint.TimePtr(act.Add(session))
	g.ExpiresAt = stint.TimePtr(act.Add(ttl))
	g.TTL = stint.Duration(ttl)
	return g
}

// decide appends an approver's decision, after the request.
func decide(g *stint.Grant, by, decision string, after time.Duration) *stint.Grant {
	g.Approvals = append(g.Approvals, stint.Approval{By: by, Decision: decision, At: g.RequestedAt.Add(after)})
	return g
}

// Usages of an ended grant, as the broker records them.
var (
	used         = map[string]any{"used": true, "last_used_at": T.Format(time.RFC3339), "attempts": 1}
	unused       = map[string]any{"used": false, "attempts": 1}
	unobservable = map[string]any{"usage": "unobservable", "attempts": 1}
	noUsage      = map[string]any{"attempts": 3} // a retried revocation records none
)

// add stores g with its grant.requested record and, when end is not nil,
// the record of its end (grant.expired or grant.revoked by its state).
func (f *fixture) add(g *stint.Grant, end map[string]any) {
	f.t.Helper()
	ctx := context.Background()
	req := &stint.AuditRecord{Time: g.RequestedAt, Type: stint.AuditGrantRequested, Actor: g.Principal, GrantID: g.ID, Access: g.Access}
	if err := f.s.CreateGrant(ctx, g, req); err != nil {
		f.t.Fatal(err)
	}
	if end == nil {
		return
	}
	typ := stint.AuditGrantRevoked
	if g.State == stint.StateExpired {
		typ = stint.AuditGrantExpired
	}
	rec := &stint.AuditRecord{Time: *g.EndedAt, Type: typ, Actor: stint.ActorStint, GrantID: g.ID, Access: g.Access, Details: end}
	if err := f.s.UpdateGrant(ctx, g, rec); err != nil {
		f.t.Fatal(err)
	}
}

// audit appends records not tied to a transition.
func (f *fixture) audit(typ string, at time.Duration) {
	f.t.Helper()
	rec := &stint.AuditRecord{Time: T.Add(at), Type: typ, Actor: stint.ActorStint, GrantID: stint.NewID(T), Access: "db/readonly",
		Details: map[string]any{"attempt": 1, "error": "connection refused"}}
	if err := f.s.AppendAudit(context.Background(), rec); err != nil {
		f.t.Fatal(err)
	}
}

// discovery stores a discovery run of resource that found n privileges.
func (f *fixture) discovery(resource string, at time.Duration, n int) {
	f.t.Helper()
	run := &stint.DiscoveryRun{Resource: resource, Time: T.Add(at), Privileges: []stint.StandingPrivilege{}}
	for i := range n {
		run.Privileges = append(run.Privileges, stint.StandingPrivilege{Resource: resource, Principal: fmt.Sprintf("user%d", i), Privilege: "ALL"})
	}
	if err := f.s.SaveDiscovery(context.Background(), run, nil); err != nil {
		f.t.Fatal(err)
	}
}

// outcomes returns a by_outcome map with every state, set from kv pairs.
func outcomes(kv ...any) map[string]int {
	m := map[string]int{}
	for _, s := range stint.States {
		m[string(s)] = 0
	}
	for i := 0; i < len(kv); i += 2 {
		m[string(kv[i].(stint.State))] = kv[i+1].(int)
	}
	return m
}

// mustJSON returns v as indented JSON.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func secs(d time.Duration) float64 { return d.Seconds() }
