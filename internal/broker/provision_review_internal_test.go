package broker

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/store/sqlite"
)

type r4 struct {
	svc   *Service
	st    *sqlite.Store
	clock *clocktest.Clock
	prov  *liveSet
	dir   string
}

func (e *r4) runtime(t *testing.T, cfgText string) *Runtime {
	cfg, err := config.Parse("stint.yaml", []byte(cfgText), map[string]stint.ProviderFactory{"exec": exec.NewFactory()},
		config.Options{DataDir: e.dir, Clock: e.clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Policy: cfg.Policy, Resources: map[string]*Resource{
		"db": {Name: "db", Type: "exec", Roles: map[string]bool{"readonly": true, "backup": true}, Provider: e.prov}}}
	rt.Windows = NewWindows(cfg.Policy, e.st)
	e.svc.SetRuntime(rt)
	return rt
}

func newR4(t *testing.T) *r4 {
	dir := t.TempDir()
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "stint.db"), clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &r4{svc: New(st, clock, logger), st: st, clock: clock, prov: &liveSet{live: map[string]bool{}}, dir: dir}
}

func (e *r4) due(t *testing.T) {
	ctx := context.Background()
	now := e.clock.Now()
	gs, err := e.st.ClaimDue(ctx, now, now.Add(time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if err := e.svc.HandleDue(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *r4) provisioned(t *testing.T) []*stint.Grant {
	gs, _, err := e.st.ListGrants(context.Background(), stint.GrantFilter{Policy: "nightly-backup", Access: "db/backup", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*stint.Grant
	for _, g := range gs {
		if g.Principal == "window:nightly-backup" {
			out = append(out, g)
		}
	}
	return out
}

// A principal whose name is window:POLICY (here: an OIDC issuer named
// "window" with the default subject name+":"+sub) owns the provisioned
// grants: it renews one and receives a fresh credential for it.
func TestReview4_WindowPrincipalStealsProvisionedCredential(t *testing.T) {
	e := newR4(t)
	ctx := context.Background()
	rt := e.runtime(t, provisionConfig)
	e.svc.windowStep(ctx, rt, nil)
	e.clock.Set(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC))
	e.due(t)
	gs := e.provisioned(t)
	var active *stint.Grant
	for _, g := range gs {
		if g.State == stint.StateActive {
			active = g
		}
	}
	if active == nil {
		t.Fatalf("no active provisioned grant: %+v", gs)
	}
	mallory := stint.NewContextWithPrincipal(ctx, &stint.Principal{Name: "window:nightly-backup", Kind: stint.KindWorkload, Issuer: "window"})
	e.clock.Add(time.Minute)
	res, err := e.svc.RenewGrant(mallory, active.ID, 10*time.Minute)
	t.Logf("renew: %v", err)
	if _, rerr := e.svc.RevokeGrant(mallory, active.ID, "mine", false); rerr == nil {
		t.Errorf("principal named window:nightly-backup revoked provisioned grant %s", active.ID)
	}
	if err == nil {
		t.Fatalf("principal named window:nightly-backup renewed provisioned grant %s; credential returned: %v", active.ID, res.Credential != nil)
	}
}

// The provision list drops db/backup on reload: tomorrow's scheduled grant
// is still issued at the opening.
func TestReview4_ReloadDropsProvision(t *testing.T) {
	e := newR4(t)
	ctx := context.Background()
	rt := e.runtime(t, provisionConfig)
	e.svc.windowStep(ctx, rt, nil)
	if n := len(e.provisioned(t)); n != 1 {
		t.Fatalf("%d scheduled", n)
	}
	e.runtime(t, strings.Replace(provisionConfig, "      provision: [db/backup]\n", "", 1))
	e.clock.Set(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC))
	e.due(t)
	for _, g := range e.provisioned(t) {
		if g.State == stint.StateActive || e.prov.isLive(g.ID) {
			t.Fatalf("grant %s of an access no longer provisioned was issued (state %s, expires %s)", g.ID, g.State, g.ExpiresAt)
		}
	}
}

// The window is shortened on reload (duration 1h -> 15m, lag 30m -> 0):
// the window now closes at 02:15, but the scheduled grant made before the
// reload is issued until the old close, 03:30.
func TestReview4_ReloadShortensWindow(t *testing.T) {
	e := newR4(t)
	ctx := context.Background()
	rt := e.runtime(t, provisionConfig)
	e.svc.windowStep(ctx, rt, nil)
	rt = e.runtime(t, strings.Replace(provisionConfig, "duration: 1h, lead: 15m, lag: 30m", "duration: 15m, lead: 15m, lag: 0s", 1))
	e.clock.Set(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC))
	e.due(t)
	e.svc.windowStep(ctx, rt, nil)
	for _, g := range e.provisioned(t) {
		if g.State == stint.StateActive && g.ExpiresAt.After(time.Date(2026, 3, 2, 2, 15, 0, 0, time.UTC)) {
			t.Fatalf("provisioned grant %s expires at %s, after its window's close 02:15", g.ID, g.ExpiresAt)
		}
	}
	e.clock.Set(time.Date(2026, 3, 2, 2, 20, 0, 0, time.UTC))
	e.svc.windowStep(ctx, rt, nil)
	e.due(t)
	for _, g := range e.provisioned(t) {
		if e.prov.isLive(g.ID) {
			t.Fatalf("at 02:20, window closed at 02:15, provisioned grant %s still live (%s)", g.ID, g.State)
		}
	}
}

// More than 50 grants of the provisioned access inside one window (the
// workload's own requests): the provision check only reads the newest 50,
// so the window is provisioned a second time.
func TestReview4_DuplicateProvisionAfter50Requests(t *testing.T) {
	e := newR4(t)
	ctx := context.Background()
	rt := e.runtime(t, provisionConfig)
	e.svc.windowStep(ctx, rt, nil)
	e.clock.Set(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC))
	e.due(t)
	e.svc.windowStep(ctx, rt, nil)
	bot := stint.NewContextWithPrincipal(ctx, &stint.Principal{Name: "svc/nightly-backup", Kind: stint.KindWorkload})
	for i := 0; i < 51; i++ {
		e.clock.Add(time.Second)
		if _, err := e.svc.RequestGrant(bot, stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "db/backup", TTL: time.Second}}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Add(time.Second)
	e.svc.windowStep(ctx, rt, nil)
	e.due(t)
	n := 0
	all, _, _ := e.st.ListGrants(ctx, stint.GrantFilter{Policy: "nightly-backup", Access: "db/backup", Limit: 1000})
	t.Logf("%d grants in all; newest first: %s %s", len(all), all[0].Principal, all[len(all)-1].Principal)
	for _, g := range e.provisioned(t) {
		t.Logf("prov %s %s opens %s req %s", g.ID, g.State, g.Window.Opens, g.RequestedAt)
		if g.Window != nil && g.Window.Opens.Equal(time.Date(2026, 3, 3, 1, 45, 0, 0, time.UTC)) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d provisioned grants for the window opening 2026-03-03 01:45", n)
	}
}

// A reload adds provision while the window is open, after the workload
// requested db/backup in it: the workload's own grant counts as "already
// provisioned", so the window never gets its provisioned grant.
func TestReview4_RequestMasksProvision(t *testing.T) {
	e := newR4(t)
	ctx := context.Background()
	noProv := strings.Replace(provisionConfig, "      provision: [db/backup]\n", "", 1)
	e.runtime(t, noProv)
	e.clock.Set(time.Date(2026, 3, 2, 1, 50, 0, 0, time.UTC))
	bot := stint.NewContextWithPrincipal(ctx, &stint.Principal{Name: "svc/nightly-backup", Kind: stint.KindWorkload})
	res, err := e.svc.RequestGrant(bot, stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "db/backup", TTL: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RevokeGrant(bot, res.Grant.ID, "done", false); err != nil {
		t.Fatal(err)
	}
	rt := e.runtime(t, provisionConfig)
	e.svc.windowStep(ctx, rt, nil)
	e.due(t)
	for _, g := range e.provisioned(t) {
		if g.Window != nil && g.Window.Opens.Equal(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC)) {
			return
		}
	}
	t.Fatalf("open window never provisioned: the requester's own grant %s counted as its provisioned grant", res.Grant.ID)
}
