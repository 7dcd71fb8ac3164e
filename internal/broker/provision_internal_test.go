package broker

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/store/sqlite"
)

const provisionConfig = `
auth:
  tokens:
    - { subject: svc/nightly-backup, kind: workload, sha256: 0000000000000000000000000000000000000000000000000000000000000001 }
resources:
  db:
    provider: exec
    grant: [/bin/true]
    revoke: [/bin/true]
    roles:
      readonly: {}
      backup: {}
policies:
  - name: nightly-backup
    who: principal.name == "svc/nightly-backup"
    access: [db/readonly, db/backup]
    ttl: 2h
    window:
      schedule: { cron: "0 2 * * *", timezone: UTC, duration: 1h, lead: 15m, lag: 30m }
      provision: [db/backup]
`

// liveSet records what the provider has issued and not revoked.
type liveSet struct {
	mu   sync.Mutex
	live map[string]bool
}

func (p *liveSet) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[g.ID] = true
	return &stint.Credential{}, nil
}

func (p *liveSet) Revoke(ctx context.Context, g *stint.Grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, g.ID)
	return nil
}

func (p *liveSet) isLive(id string) bool { p.mu.Lock(); defer p.mu.Unlock(); return p.live[id] }

func TestService_Provision(t *testing.T) {
	dir := t.TempDir()
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logger := slog.New(slog.DiscardHandler)
	cfg, err := config.Parse("stint.yaml", []byte(provisionConfig), map[string]stint.ProviderFactory{"exec": exec.NewFactory()},
		config.Options{DataDir: dir, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "stint.db"), clock, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := New(st, clock, logger)
	prov := &liveSet{live: map[string]bool{}}
	rt := &Runtime{Policy: cfg.Policy, Resources: map[string]*Resource{
		"db": {Name: "db", Type: "exec", Roles: map[string]bool{"readonly": true, "backup": true}, Provider: prov}}}
	rt.Windows = NewWindows(cfg.Policy, st)
	svc.SetRuntime(rt)
	ctx := context.Background()
	due := func() {
		now := clock.Now()
		gs, err := st.ClaimDue(ctx, now, now.Add(time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if err := svc.HandleDue(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	provisioned := func() []*stint.Grant {
		gs, _, err := st.ListGrants(ctx, stint.GrantFilter{Policy: "nightly-backup", Access: "db/backup"})
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}

	// Noon: the next run is 02:00 tomorrow, its window opens at 01:45.
	prev := svc.windowStep(ctx, rt, nil)
	gs := provisioned()
	if len(gs) != 1 || gs[0].State != stint.StateScheduled || gs[0].Principal != "window:nightly-backup" ||
		!gs[0].DueAt.Equal(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC)) {
		t.Fatalf("scheduled grants: %+v", gs)
	}
	id := gs[0].ID
	svc.windowStep(ctx, rt, prev) // idempotent
	if n := len(provisioned()); n != 1 {
		t.Fatalf("%d provisioned grants after a second step", n)
	}
	// The workload's own request is denied outside the window.
	bot := stint.NewContextWithPrincipal(ctx, &stint.Principal{Name: "svc/nightly-backup", Kind: stint.KindWorkload})
	if _, err := svc.RequestGrant(bot, stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "db/readonly"}}); stint.ErrorCode(err) != stint.EDENIED {
		t.Fatalf("request outside the window: %v", err)
	}

	clock.Set(time.Date(2026, 3, 2, 1, 45, 0, 0, time.UTC))
	due()
	g, _ := st.GetGrant(ctx, id)
	if g.State != stint.StateActive || !prov.isLive(id) || !g.ExpiresAt.Equal(time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC)) {
		t.Fatalf("at the opening: %+v live=%v", g, prov.isLive(id))
	}
	res, err := svc.RequestGrant(bot, stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "db/readonly"}})
	if err != nil || !res.Grant.ExpiresAt.Equal(time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC)) {
		t.Fatalf("request inside the window: %v %+v", err, res)
	}

	clock.Set(time.Date(2026, 3, 2, 3, 30, 0, 0, time.UTC))
	due()
	if g, _ := st.GetGrant(ctx, id); g.State != stint.StateExpired || prov.isLive(id) {
		t.Fatalf("at the close: %s live=%v", g.State, prov.isLive(id))
	}
	// The next night is scheduled in turn.
	svc.windowStep(ctx, rt, nil)
	if gs := provisioned(); len(gs) != 2 || gs[0].State != stint.StateScheduled {
		t.Fatalf("next night: %+v", gs)
	}
}
