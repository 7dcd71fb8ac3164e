package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint/internal/notify"
)

const notifyConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: svc/app, kind: workload, sha256: {{WORKLOAD}} }
    - { subject: alice@example.com, kind: human, groups: [approvers, sre], sha256: {{APPROVER}} }
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  admins: [group:admins]
resources:
  internal-api:
    provider: token
    roles:
      admin: { audience: internal-api, scopes: [admin] }
notify:
  - url: {{HOOK}}/json
    format: json
    secret: ${env:NOTIFY_SECRET}
    on: [approval.requested, approval.decided, grant.break_glass]
  - url: {{HOOK}}/slack
    format: slack
    on: [approval.requested]
policies:
  - name: admin-approval
    who: principal.kind == "workload"
    access: [internal-api/admin]
    ttl: 15m
    require: [reason]
    approval: { approvers: [group:approvers], count: 1, timeout: 30m }
  - name: break-glass
    who: '"sre" in principal.groups'
    access: [internal-api/admin]
    ttl: 30m
    break_glass: true
`

type delivery struct {
	path   string
	header http.Header
	body   []byte
}

func TestE2E_Notifications(t *testing.T) {
	const secret = "notify-secret-e2e"
	var mu sync.Mutex
	var got []delivery
	arrived := make(chan struct{}, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.URL.Path, r.Header.Clone(), b})
		mu.Unlock()
		arrived <- struct{}{}
	}))
	defer hook.Close()
	t.Setenv("NOTIFY_SECRET", secret)
	h := startHarnessWith(t, notifyConfig, map[string]string{"HOOK": hook.URL})

	wait := func(n int) []delivery {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			mu.Lock()
			if len(got) >= n {
				out := append([]delivery(nil), got...)
				mu.Unlock()
				return out
			}
			mu.Unlock()
			select {
			case <-arrived:
			case <-timeout:
				t.Fatalf("only %d of %d notifications arrived", len(got), n)
			}
		}
	}

	var g grantOut
	h.mustJSON(h.workload, &g, "request", "internal-api/admin", "--reason", "rotate keys", "--json")
	ds := wait(2)
	var js, slack *delivery
	for i := range ds {
		switch ds[i].path {
		case "/json":
			js = &ds[i]
		case "/slack":
			slack = &ds[i]
		}
	}
	if js == nil || slack == nil {
		t.Fatalf("deliveries: %+v", ds)
	}
	if err := notify.VerifySignature(secret, js.header.Get("X-Stint-Timestamp"), js.body, js.header.Get("X-Stint-Signature"), time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := notify.VerifySignature("wrong", js.header.Get("X-Stint-Timestamp"), js.body, js.header.Get("X-Stint-Signature"), time.Now(), 5*time.Minute); err == nil {
		t.Fatal("signature verifies with the wrong secret")
	}
	var ev map[string]any
	json.Unmarshal(js.body, &ev)
	if ev["event"] != "approval.requested" || !strings.Contains(ev["approve_command"].(string), "stint approve "+g.ID) ||
		!strings.Contains(ev["url"].(string), g.ID) {
		t.Fatalf("approval.requested: %s", js.body)
	}
	var sm struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(slack.body, &sm); err != nil || sm.Text == "" || len(sm.Blocks) == 0 {
		t.Fatalf("slack message: %s", slack.body)
	}

	h.stint(h.approver, "approve", g.ID, "--comment", "ok")
	ds = wait(3)
	json.Unmarshal(ds[2].body, &ev)
	if ds[2].path != "/json" || ev["event"] != "approval.decided" {
		t.Fatalf("approval.decided: %s %s", ds[2].path, ds[2].body)
	}

	// Break-glass by a human in the sre group: granted at once, loudly.
	h.mustJSON(h.approver, &g, "request", "internal-api/admin", "--reason", "prod down", "--json")
	if g.State != "active" {
		t.Fatalf("break-glass: %+v", g)
	}
	ds = wait(4)
	json.Unmarshal(ds[3].body, &ev)
	if ev["event"] != "grant.break_glass" {
		t.Fatalf("break-glass notification: %s", ds[3].body)
	}
	// Nothing secret in the server's logs.
	if strings.Contains(h.logs.String(), secret) || strings.Contains(h.logs.String(), hook.URL+"/slack") {
		t.Fatal("notify secret or URL in logs")
	}
}
