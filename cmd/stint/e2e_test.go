package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	_ "modernc.org/sqlite"
)

var stintBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stint-e2e-bin-")
	if err != nil {
		panic(err)
	}
	stintBin = filepath.Join(dir, "stint")
	out, err := exec.Command("go", "build", "-o", stintBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build stint: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// harness is a running `stint server` with its configuration and tokens.
type harness struct {
	t                         *testing.T
	dir, cfgPath, addr        string
	workload, approver, admin string
	cmd                       *exec.Cmd
	logs                      *syncBuffer
}

func hash(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const e2eConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: svc/app, kind: workload, sha256: {{WORKLOAD}} }
    - { subject: alice@example.com, kind: human, groups: [approvers], sha256: {{APPROVER}} }
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  admins: [group:admins]
resources:
  internal-api:
    provider: token
    roles:
      read:  { audience: internal-api, scopes: [read, list] }
      admin: { audience: internal-api, scopes: [admin] }
  legacy:
    provider: exec
    grant: [{{DIR}}/grant.sh]
    revoke: [{{DIR}}/revoke.sh]
    roles:
      operator: {}
policies:
  - name: routine
    who: principal.name == "svc/app"
    access: [internal-api/read, legacy/operator]
    ttl: 10m
    max_ttl: 1h
  - name: admin-approval
    who: principal.kind == "workload"
    access: [internal-api/admin]
    ttl: 15m
    require: [reason]
    approval: { approvers: [group:approvers], count: 1, timeout: 30m }
`

func startHarness(t *testing.T) *harness {
	t.Helper()
	return startHarnessWith(t, e2eConfig, nil)
}

// startHarnessWith starts a server on the configuration template tmpl, with
// extra replacements of {{NAME}} placeholders.
func startHarnessWith(t *testing.T, tmpl string, extra map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, cfgPath: filepath.Join(dir, "stint.yaml"), addr: freeAddr(t),
		workload: "stint_workload_e2e_token", approver: "stint_approver_e2e_token", admin: "stint_admin_e2e_token"}
	writeFile(t, filepath.Join(dir, "grant.sh"), "#!/bin/sh\nset -eu\necho \"$STINT_PRINCIPAL $STINT_EXPIRES_AT\" > \""+dir+"/account-$STINT_GRANT_ID\"\nprintf '{\"env\":{\"LEGACY_USER\":\"u-%s\"},\"files\":{\"legacy.conf\":\"user=u-%s\\\\n\"}}' \"$STINT_GRANT_ID\" \"$STINT_GRANT_ID\"\n", 0o755)
	writeFile(t, filepath.Join(dir, "revoke.sh"), "#!/bin/sh\nset -eu\nrm -f \""+dir+"/account-$STINT_GRANT_ID\"\n", 0o755)
	for k, v := range extra {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	h.writeConfig(tmpl)
	h.start()
	return h
}

func (h *harness) writeConfig(tmpl string) {
	r := strings.NewReplacer("{{ADDR}}", h.addr, "{{DIR}}", h.dir, "{{WORKLOAD}}", hash(h.workload),
		"{{APPROVER}}", hash(h.approver), "{{ADMIN}}", hash(h.admin))
	writeFile(h.t, h.cfgPath, r.Replace(tmpl), 0o600)
}

func (h *harness) start() {
	t := h.t
	h.logs = &syncBuffer{}
	h.cmd = exec.Command(stintBin, "server", "--config", h.cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", h.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + h.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stint runs the CLI as the holder of token and returns stdout, stderr, exit code.
func (h *harness) stint(token string, args ...string) (string, string, int) {
	h.t.Helper()
	cmd := exec.Command(stintBin, args...)
	cmd.Env = append(os.Environ(), "STINT_ADDR=http://"+h.addr, "STINT_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustJSON runs the CLI expecting exit 0 and decodes its JSON output.
func (h *harness) mustJSON(token string, v any, args ...string) {
	h.t.Helper()
	out, errs, code := h.stint(token, args...)
	if code != 0 {
		h.t.Fatalf("stint %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("stint %v: bad JSON: %v\n%s", args, err, out)
	}
}

type grantOut struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	Access      string     `json:"access"`
	Principal   string     `json:"principal"`
	Policy      string     `json:"policy"`
	Reason      string     `json:"reason"`
	ActivatedAt *time.Time `json:"activated_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Revocation  string     `json:"revocation"`
	Credential  *struct {
		GrantID   string            `json:"grant_id"`
		ExpiresAt time.Time         `json:"expires_at"`
		Env       map[string]string `json:"env"`
	} `json:"credential"`
	History []struct {
		Type  string `json:"type"`
		Actor string `json:"actor"`
	} `json:"history"`
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) introspect(tok string) map[string]any {
	h.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/v1/tokens/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

func TestE2E_TokenGrantLifecycle(t *testing.T) {
	h := startHarness(t)

	var g grantOut
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--reason", "nightly report", "--ttl", "5m", "--json")
	if g.State != "active" || g.Credential == nil || g.Policy != "routine" || g.Revocation != "expiry-only" {
		t.Fatalf("request: %+v", g)
	}
	tok := g.Credential.Env["STINT_ACCESS_TOKEN"]

	// A resource server verifies the JWT with the published keys.
	resp, err := http.Get("http://" + h.addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.Claims
	var extra struct {
		Scope string `json:"scope"`
	}
	if err := parsed.Claims(jwks.Keys[0].Public().Key, &claims, &extra); err != nil {
		if len(jwks.Keys) < 1 {
			t.Fatal("no keys")
		}
		t.Fatalf("verify token with JWKS: %v", err)
	}
	if claims.Subject != "svc/app" || claims.ID != g.ID || !claims.Audience.Contains("internal-api") || extra.Scope != "read list" {
		t.Fatalf("claims: %+v %+v", claims, extra)
	}
	if d := claims.Expiry.Time().Sub(*g.ActivatedAt); d < 299*time.Second || d > 301*time.Second {
		t.Fatalf("exp - activation = %v, want 5m", d)
	}
	if m := h.introspect(tok); m["active"] != true || m["sub"] != "svc/app" {
		t.Fatalf("introspect active grant: %v", m)
	}

	// Show with history, list.
	var shown grantOut
	h.mustJSON(h.workload, &shown, "show", g.ID, "--json")
	if shown.State != "active" || len(shown.History) < 2 || shown.History[0].Type != "grant.requested" {
		t.Fatalf("show: %+v", shown)
	}
	var list []grantOut
	h.mustJSON(h.workload, &list, "grants", "--state", "active", "--json")
	if len(list) != 1 || list[0].ID != g.ID {
		t.Fatalf("grants: %+v", list)
	}

	// Renew within max_ttl returns a new token.
	var renewed grantOut
	h.mustJSON(h.workload, &renewed, "renew", g.ID, "--ttl", "30m", "--json")
	if !renewed.ExpiresAt.After(*g.ExpiresAt) || renewed.Credential == nil {
		t.Fatalf("renew: %+v", renewed)
	}
	var clamped grantOut
	h.mustJSON(h.workload, &clamped, "renew", g.ID, "--ttl", "7d", "--json")
	if got := clamped.ExpiresAt.Sub(*g.ActivatedAt); got != time.Hour {
		t.Fatalf("renew beyond max_ttl: expires %v after activation, want 1h", got)
	}

	// Another principal cannot revoke it; the owner can; introspection then says inactive.
	if _, _, code := h.stint(h.approver, "revoke", g.ID); code != 3 {
		t.Fatalf("approver revoking someone else's grant: exit %d, want 3", code)
	}
	out, errs, code := h.stint(h.workload, "revoke", g.ID, "--reason", "done")
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s %s", code, out, errs)
	}
	if m := h.introspect(tok); m["active"] != false {
		t.Fatalf("introspect revoked grant: %v", m)
	}
	if _, _, code := h.stint(h.workload, "revoke", g.ID); code == 0 {
		t.Fatal("revoking a revoked grant succeeded")
	}
}

func TestE2E_ExecAndExpiry(t *testing.T) {
	h := startHarness(t)

	// exec: credential in env and files, revoked when the command exits, its exit code.
	script := `test -z "$STINT_TOKEN" || exit 89
test -f "$STINT_CREDENTIALS_DIR/legacy.conf" || exit 90
test "$(stat -c %a "$STINT_CREDENTIALS_DIR")" = 700 || exit 91
test -f "` + h.dir + `/account-$STINT_GRANT_ID" || exit 92
echo "dir=$STINT_CREDENTIALS_DIR user=$LEGACY_USER grant=$STINT_GRANT_ID"
exit 7`
	out, errs, code := h.stint(h.workload, "exec", "legacy/operator", "--reason", "e2e", "--", "sh", "-c", script)
	if code != 7 {
		t.Fatalf("exec exit %d, want 7\n%s\n%s", code, out, errs)
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(out) {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	if _, err := os.Stat(fields["dir"]); !os.IsNotExist(err) {
		t.Fatalf("credentials dir %q left behind", fields["dir"])
	}
	if _, err := os.Stat(filepath.Join(h.dir, "account-"+fields["grant"])); !os.IsNotExist(err) {
		t.Fatal("exec grant not revoked: account file still there")
	}
	var g grantOut
	h.mustJSON(h.workload, &g, "show", fields["grant"], "--json")
	if g.State != "revoked" {
		t.Fatalf("after exec: %s", g.State)
	}

	// exec forwards SIGTERM and still revokes.
	cmd := exec.Command(stintBin, "exec", "legacy/operator", "--", "sh", "-c", `echo "grant=$STINT_GRANT_ID"; trap 'exit 143' TERM; while :; do sleep 0.05; done`)
	cmd.Env = append(os.Environ(), "STINT_ADDR=http://"+h.addr, "STINT_TOKEN="+h.workload)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	id := strings.TrimSpace(strings.TrimPrefix(line, "grant="))
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("exec after SIGTERM: %v", err)
	}
	h.mustJSON(h.workload, &g, "show", id, "--json")
	if g.State != "revoked" {
		t.Fatalf("after SIGTERM exec: %s", g.State)
	}

	// A grant with a 1s TTL is expired by the engine (and its account removed).
	h.mustJSON(h.workload, &g, "request", "legacy/operator", "--ttl", "1s", "--json")
	deadline := time.Now().Add(10 * time.Second)
	for g.State != "expired" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		h.mustJSON(h.workload, &g, "show", g.ID, "--json")
	}
	if g.State != "expired" {
		t.Fatalf("1s grant not expired: %s", g.State)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "account-"+g.ID)); !os.IsNotExist(err) {
		t.Fatal("expired grant's account still there")
	}
}

func TestE2E_BadInputAndExitCodes(t *testing.T) {
	h := startHarness(t)
	cases := []struct {
		name  string
		token string
		args  []string
		code  int
		msg   string
	}{
		{"NoPolicy", h.workload, []string{"request", "internal-api/admin"}, 3, "reason"},
		{"UnknownRole", h.workload, []string{"request", "internal-api/nope"}, 2, "no role"},
		{"MalformedAccess", h.workload, []string{"request", "internal-api"}, 2, "resource/role"},
		{"BadTTL", h.workload, []string{"request", "internal-api/read", "--ttl", "-5m"}, 2, "ttl"},
		{"AbsurdTTL", h.workload, []string{"request", "internal-api/read", "--ttl", "9999d"}, 2, "ttl"},
		{"WrongToken", "stint_wrong", []string{"grants"}, 5, ""},
		{"NoToken", "", []string{"grants"}, 5, ""},
		{"UnknownGrant", h.workload, []string{"show", "01abcdefghjkmnpqrstvwxyz01"}, 1, "not found"},
		{"MissingArg", h.workload, []string{"request"}, 2, ""},
		{"WorkloadApproves", h.workload, []string{"approve", "01abcdefghjkmnpqrstvwxyz01"}, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := h.stint(tc.token, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errs, tc.msg)
			}
		})
	}
	// Unreachable server: exit 5.
	cmd := exec.Command(stintBin, "grants")
	cmd.Env = append(os.Environ(), "STINT_ADDR=http://"+freeAddr(t), "STINT_TOKEN="+h.workload)
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != 5 {
		t.Fatalf("unreachable: %v", err)
	}
	// Denials are audited; nothing else was written for the bad requests.
	var gs []grantOut
	h.mustJSON(h.admin, &gs, "grants", "--json")
	if len(gs) != 1 || gs[0].State != "denied" {
		t.Fatalf("grants after bad input: %+v", gs)
	}
}

func TestE2E_ApprovalWait(t *testing.T) {
	h := startHarness(t)
	cmd := exec.Command(stintBin, "request", "internal-api/admin", "--reason", "rotate", "--wait", "--timeout", "30s", "--json")
	cmd.Env = append(os.Environ(), "STINT_ADDR=http://"+h.addr, "STINT_TOKEN="+h.workload)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pending []grantOut
	deadline := time.Now().Add(10 * time.Second)
	for len(pending) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		h.mustJSON(h.approver, &pending, "grants", "--state", "pending", "--json")
	}
	if len(pending) != 1 {
		t.Fatal("no pending grant")
	}
	if _, _, code := h.stint(h.workload, "approve", pending[0].ID); code != 3 {
		t.Fatalf("requester approving itself: exit %d, want 3", code)
	}
	if o, e, code := h.stint(h.approver, "approve", pending[0].ID, "--comment", "ok"); code != 0 {
		t.Fatalf("approve: %d %s %s", code, o, e)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("request --wait: %v\n%s", err, out.String())
	}
	var g grantOut
	if err := json.Unmarshal(out.Bytes(), &g); err != nil {
		t.Fatal(err, out.String())
	}
	if g.State != "active" || g.Credential == nil || g.Credential.Env["STINT_ACCESS_TOKEN"] == "" {
		t.Fatalf("after approval: %+v", g)
	}
	// exec waits for the approval too, runs the command with the token, and
	// revokes the grant when it exits.
	ex := exec.Command(stintBin, "exec", "internal-api/admin", "--reason", "deploy", "--timeout", "30s", "--",
		"sh", "-c", `test -n "$STINT_ACCESS_TOKEN" && echo "ran $STINT_GRANT_ID"`)
	ex.Env = append(os.Environ(), "STINT_ADDR=http://"+h.addr, "STINT_TOKEN="+h.workload)
	var exOut bytes.Buffer
	ex.Stdout = &exOut
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	var mine []grantOut
	deadline = time.Now().Add(10 * time.Second)
	for len(mine) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		h.mustJSON(h.approver, &mine, "grants", "--mine", "--json")
	}
	if len(mine) != 1 {
		t.Fatal("exec's request not pending for the approver")
	}
	if _, _, code := h.stint(h.approver, "approve", mine[0].ID); code != 0 {
		t.Fatal("approve failed")
	}
	if err := ex.Wait(); err != nil || !strings.Contains(exOut.String(), "ran "+mine[0].ID) {
		t.Fatalf("exec after approval: %v %q", err, exOut.String())
	}
	h.mustJSON(h.workload, &g, "show", mine[0].ID, "--json")
	if g.State != "revoked" {
		t.Fatalf("exec's grant after the command: %s", g.State)
	}

	// Waiting with a timeout that runs out exits 4.
	_, _, code := h.stint(h.workload, "request", "internal-api/admin", "--reason", "again", "--wait", "--timeout", "1s")
	if code != 4 {
		t.Fatalf("timed-out wait: exit %d, want 4", code)
	}
}

func TestE2E_AuditVerifyAndReload(t *testing.T) {
	h := startHarness(t)
	var g grantOut
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
	out, _, code := h.stint(h.admin, "audit", "--json")
	if code != 0 {
		t.Fatal("audit failed")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("audit lines: %q", out)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["hash"] == "" {
			t.Fatalf("audit line %q: %v", l, err)
		}
	}
	if out, _, code := h.stint(h.admin, "audit", "verify"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: %d %s", code, out)
	}

	// A bad configuration on SIGHUP is refused and the old one stays.
	h.writeConfig(strings.Replace(e2eConfig, "ttl: 10m", "ttl: banana", 1))
	if _, errs, code := h.stint("", "policy", "check", "--config", h.cfgPath); code != 2 || !strings.Contains(errs, "stint.yaml:") {
		t.Fatalf("policy check of bad file: exit %d: %s", code, errs)
	}
	signalAndWaitLog(t, h, syscall.SIGHUP, "reload refused")
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
	if g.State != "active" {
		t.Fatalf("after refused reload: %s", g.State)
	}
	// A good one is taken.
	h.writeConfig(strings.Replace(e2eConfig, "ttl: 10m", "ttl: 3m", 1))
	signalAndWaitLog(t, h, syscall.SIGHUP, "configuration loaded")
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
	if d := g.ExpiresAt.Sub(*g.ActivatedAt); d != 3*time.Minute {
		t.Fatalf("after reload ttl = %v, want 3m", d)
	}

	// Tampering with a record is caught and named.
	db, err := sql.Open("sqlite", filepath.Join(h.dir, "stint.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET reason = 'nothing to see' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	out, _, code = h.stint(h.admin, "audit", "verify")
	if code == 0 || !strings.Contains(out, "record 3") {
		t.Fatalf("verify after tampering: exit %d: %s", code, out)
	}

	// SIGTERM shuts down gracefully.
	h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's output goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// signalAndWaitLog sends sig and waits until the server logs s once more.
func signalAndWaitLog(t *testing.T, h *harness, sig os.Signal, s string) {
	t.Helper()
	before := strings.Count(h.logs.String(), s)
	h.cmd.Process.Signal(sig)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for strings.Count(h.logs.String(), s) <= before {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q in logs", s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestE2E_RestartCatchUp stops the server while grants fall due and checks
// that the next start revokes them at once.
func TestE2E_RestartCatchUp(t *testing.T) {
	h := startHarness(t)
	var ids []string
	for i := 0; i < 5; i++ {
		var g grantOut
		h.mustJSON(h.workload, &g, "request", "legacy/operator", "--ttl", "1s", "--json")
		ids = append(ids, g.ID)
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(h.dir, "account-"+id)); err != nil {
			t.Fatalf("account of %s gone while the server was down: %v", id, err)
		}
	}
	time.Sleep(1200 * time.Millisecond) // let them fall due while the server is down
	h.start()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		var g grantOut
		for {
			h.mustJSON(h.admin, &g, "show", id, "--json")
			if g.State == "expired" || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if g.State != "expired" {
			t.Fatalf("grant %s after restart: %s", id, g.State)
		}
		if _, err := os.Stat(filepath.Join(h.dir, "account-"+id)); !os.IsNotExist(err) {
			t.Fatalf("account of %s not removed after restart", id)
		}
	}
}

// TestE2E_ExecSIGHUP: a closed terminal (SIGHUP) still ends stint exec with
// the grant revoked and the credential files removed.
func TestE2E_ExecSIGHUP(t *testing.T) {
	h := startHarness(t)
	cmd := exec.Command(stintBin, "exec", "legacy/operator", "--", "sh", "-c", `echo "grant=$STINT_GRANT_ID dir=$STINT_CREDENTIALS_DIR"; exec sleep 5`)
	cmd.Env = append(os.Environ(), "STINT_ADDR=http://"+h.addr, "STINT_TOKEN="+h.workload)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	fields := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	cmd.Process.Signal(syscall.SIGHUP)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGHUP) {
		t.Fatalf("stint exec after SIGHUP: %v, want the command's exit 129", err)
	}
	var g grantOut
	h.mustJSON(h.workload, &g, "show", fields["grant"], "--json")
	if g.State != "revoked" {
		t.Fatalf("grant %s is %s after SIGHUP, want revoked", fields["grant"], g.State)
	}
	if _, err := os.Stat(fields["dir"]); !os.IsNotExist(err) {
		os.RemoveAll(fields["dir"])
		t.Fatalf("credentials directory %s left on disk", fields["dir"])
	}
}

// TestE2E_ControlCharactersRefused: a reason with a NUL byte (which no
// environment can carry) is refused up front and writes no grant.
func TestE2E_ControlCharactersRefused(t *testing.T) {
	h := startHarness(t)
	for _, body := range []string{`{"access":"legacy/operator","reason":"x\u0000y"}`, `{"access":"legacy/operator","ticket":"a\nb"}`} {
		req, _ := http.NewRequest("POST", "http://"+h.addr+"/v1/grants", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.workload)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: status %d, want 400", body, resp.StatusCode)
		}
	}
	var gs []grantOut
	h.mustJSON(h.admin, &gs, "grants", "--json")
	if len(gs) != 0 {
		t.Fatalf("grants written: %+v", gs)
	}
}
