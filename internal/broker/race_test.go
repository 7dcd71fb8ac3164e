package broker_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

// slowGrant replaces grant.sh with one that blocks while DIR/block exists.
func slowGrant(t *testing.T, e *env) {
	body := "#!/bin/sh\nset -eu\n[ -e \"" + e.dir + "/fail-grant\" ] && { echo 'target down' >&2; exit 1; }\n" +
		"touch \"" + e.dir + "/started-$STINT_GRANT_ID\"\n" +
		"while [ -e \"" + e.dir + "/block\" ]; do sleep 0.05; done\n" +
		"echo \"$STINT_EXPIRES_AT\" > \"" + e.dir + "/live-$STINT_GRANT_ID\"\necho '{\"env\":{\"LEGACY_USER\":\"u\"}}'\n"
	if err := os.WriteFile(filepath.Join(e.dir, "grant.sh"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, p string) {
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", p)
}

// These tests come from a review that found each of them failing: races and
// edge cases where access could outlive its grant or reach the wrong caller.

// Renew (exec provider has no Renewer: it re-runs the grant command) racing
// with a revoke leaves access on the target after the grant is revoked.
func TestService_ReviewRenewRevokeRaceOrphan(t *testing.T) {
	e := newEnv(t)
	slowGrant(t, e)
	res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, "r"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Grant.ID
	os.Remove(filepath.Join(e.dir, "started-"+id))
	os.WriteFile(filepath.Join(e.dir, "block"), nil, 0o600)
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.RenewGrant(as(app), id, 20*time.Minute)
		done <- err
	}()
	waitFile(t, filepath.Join(e.dir, "started-"+id))
	if _, err := e.svc.RevokeGrant(as(app), id, "done", false); err != nil {
		t.Fatal(err)
	}
	if e.live(id) {
		t.Fatal("revoke did not remove access")
	}
	os.Remove(filepath.Join(e.dir, "block"))
	rerr := <-done
	t.Logf("renew returned: %v", rerr)
	g := e.get(t, id)
	t.Logf("grant state %s, access live on target: %v", g.State, e.live(id))
	if g.State.Terminal() && e.live(id) {
		t.Errorf("ORPHAN: grant %s is %s but access is live on the target", id, g.State)
	}
}

// An admin renewing someone else's grant receives a fresh credential.
func TestService_ReviewAdminRenewGetsCredential(t *testing.T) {
	e := newEnv(t)
	res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, "r"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.svc.RenewGrant(as(root), res.Grant.ID, 20*time.Minute)
	wantCode(t, err, stint.EDENIED)
	if r2 != nil {
		t.Errorf("admin %s got an answer to renewing %s's grant: %+v", root.Name, res.Grant.Principal, r2)
	}
}

// A grant past its expiry (engine not yet run) can be renewed: resurrected.
func TestService_ReviewRenewAfterExpiry(t *testing.T) {
	e := newEnv(t)
	res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, "r"))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(11 * time.Minute)
	r2, err := e.svc.RenewGrant(as(app), res.Grant.ID, 10*time.Minute)
	if err == nil {
		t.Errorf("renewed a grant that expired at %v at %v: new expiry %v", res.Grant.ExpiresAt, e.clock.Now(), r2.Grant.ExpiresAt)
	}
	e.due(t)
	if g := e.get(t, res.Grant.ID); g.State != stint.StateExpired || e.live(g.ID) {
		t.Fatalf("after the engine: %s, live %v", g.State, e.live(g.ID))
	}
}

// Issue fails after the target granted, and the undo fails once: the grant
// is recorded failed (terminal) and nothing ever retries the removal.
func TestService_ReviewFailedIssueUndoNotRetried(t *testing.T) {
	e := newEnv(t)
	body := "#!/bin/sh\necho x > \"" + e.dir + "/live-$STINT_GRANT_ID\"\necho 'partial failure' >&2\nexit 1\n"
	os.WriteFile(filepath.Join(e.dir, "grant.sh"), []byte(body), 0o755)
	os.WriteFile(filepath.Join(e.dir, "fail-revoke"), nil, 0o600)
	res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, "r"))
	t.Logf("request: %v", err)
	id := res.Grant.ID
	os.Remove(filepath.Join(e.dir, "fail-revoke")) // target back
	for i := 0; i < 5; i++ {
		e.clock.Add(10 * time.Minute)
		e.due(t)
	}
	g := e.get(t, id)
	if g.State != stint.StateFailed || e.live(id) || g.DueAt != nil {
		t.Errorf("grant %s is %s (due %v), access live: %v; want failed with access removed", id, g.State, g.DueAt, e.live(id))
	}
}

func TestService_ReviewRenewExpiryEngineRaceOrphan(t *testing.T) {
	e := newEnv(t)
	slowGrant(t, e)
	res, err := e.svc.RequestGrant(as(app), req("legacy/operator", 10*time.Minute, "r"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Grant.ID
	e.clock.Add(10*time.Minute - time.Second) // renew one second before expiry
	os.WriteFile(filepath.Join(e.dir, "block"), nil, 0o600)
	os.Remove(filepath.Join(e.dir, "started-"+id))
	done := make(chan error, 1)
	go func() { _, err := e.svc.RenewGrant(as(app), id, 20*time.Minute); done <- err }()
	waitFile(t, filepath.Join(e.dir, "started-"+id))
	e.clock.Add(time.Second)
	e.due(t) // the expiry engine expires it meanwhile
	os.Remove(filepath.Join(e.dir, "block"))
	t.Logf("renew: %v", <-done)
	g := e.get(t, id)
	if g.State.Terminal() && e.live(id) {
		t.Errorf("ORPHAN: grant %s is %s but access is live (re-created by renew)", id, g.State)
	}
}

func TestService_ReviewActivateAfterApprovalDeadline(t *testing.T) {
	e := newEnv(t)
	res, err := e.svc.RequestGrant(as(app), req("legacy/admin", 0, "need"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Grant.ID
	if _, err := e.svc.ApproveGrant(as(alice), id, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveGrant(as(bob), id, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Hour) // approval timeout is 30m; engine has not run
	r2, err := e.svc.ActivateGrant(as(app), id)
	if err == nil {
		t.Errorf("activated %s %v after its approval deadline %v", r2.Grant.State, e.clock.Now(), res.Grant.ApprovalDeadline)
	}
}
