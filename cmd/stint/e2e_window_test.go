package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const windowsConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: svc/incident-bot, kind: workload, sha256: {{WORKLOAD}} }
    - { subject: alice@example.com, kind: human, groups: [oncall], sha256: {{APPROVER}} }
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  admins: [group:admins]
events:
  pagerduty:
    type: pagerduty
    secret: "${env:PD_WEBHOOK_SECRET}"
resources:
  internal-api:
    provider: token
    roles:
      read:  { audience: internal-api, scopes: [read] }
      admin: { audience: internal-api, scopes: [admin] }
policies:
  - name: always-on-schedule
    who: principal.name == "svc/incident-bot"
    access: [internal-api/read]
    ttl: 1h
    window:
      schedule: { cron: "* * * * *", timezone: UTC, duration: 1m, lead: 0s, lag: 30s }
      provision: [internal-api/read]
  - name: incident-response
    who: principal.name == "svc/incident-bot"
    access: [internal-api/admin]
    ttl: 1h
    window:
      event:
        source: pagerduty
        open: event.type == "incident.triggered" && event.data.urgency == "high"
        close: event.type == "incident.resolved"
        key: event.data.id
        max: 4h
`

func pagerduty(t *testing.T, h *harness, secret, id, typ, incident string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"event": map[string]any{
		"id": id, "event_type": typ, "occurred_at": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{"id": incident, "urgency": "high"}}})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/v1/events/pagerduty", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-PagerDuty-Signature", "v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestE2E_Windows(t *testing.T) {
	const secret = "pd-secret-e2e"
	t.Setenv("PD_WEBHOOK_SECRET", secret)
	h := startHarnessWith(t, windowsConfig, nil)

	// A schedule window that is always open: granted, and capped at its close.
	var g grantOut
	h.mustJSON(h.workload, &g, "request", "internal-api/read", "--json")
	if g.State != "active" || g.ExpiresAt.Sub(*g.ActivatedAt) > 91*time.Second {
		t.Fatalf("schedule window grant: %+v", g)
	}

	// No incident: the event window is closed, the request denied.
	if _, _, code := h.stint(h.workload, "request", "internal-api/admin"); code != 3 {
		t.Fatalf("request with no incident: exit %d, want 3", code)
	}
	// A forged webhook is refused and opens nothing.
	if code := pagerduty(t, h, "wrong", "ev-0", "incident.triggered", "P1"); code != 401 {
		t.Fatalf("forged webhook: %d", code)
	}
	if code := pagerduty(t, h, secret, "ev-1", "incident.triggered", "P1"); code != 202 {
		t.Fatalf("webhook: %d", code)
	}
	if code := pagerduty(t, h, secret, "ev-1", "incident.triggered", "P1"); code != 202 { // redelivery
		t.Fatalf("redelivered webhook: %d", code)
	}
	if code := pagerduty(t, h, secret, "ev-2", "incident.triggered", "P2"); code != 202 {
		t.Fatalf("webhook: %d", code)
	}
	h.mustJSON(h.workload, &g, "request", "internal-api/admin", "--json")
	if g.State != "active" || g.Policy != "incident-response" {
		t.Fatalf("request during the incident: %+v", g)
	}
	var ws []struct {
		Policy, Key string
		Open        bool
	}
	h.mustJSON(h.approver, &ws, "windows", "--json")
	open := map[string]bool{}
	for _, w := range ws {
		if w.Open {
			open[w.Policy+"/"+w.Key] = true
		}
	}
	if !open["incident-response/P1"] || !open["incident-response/P2"] || !open["always-on-schedule/"] {
		t.Fatalf("windows: %+v", ws)
	}

	// Resolving P2 does not close P1's window; resolving P1 ends its grants.
	pagerduty(t, h, secret, "ev-3", "incident.resolved", "P2")
	var g2 grantOut
	h.mustJSON(h.workload, &g2, "request", "internal-api/admin", "--json")
	if g2.State != "active" {
		t.Fatalf("P1 still open, request: %s", g2.State)
	}
	pagerduty(t, h, secret, "ev-4", "incident.resolved", "P1")
	deadline := time.Now().Add(10 * time.Second)
	for g.State != "expired" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		h.mustJSON(h.workload, &g, "show", g.ID, "--json")
	}
	if g.State != "expired" {
		t.Fatalf("grant under the resolved incident: %s", g.State)
	}
	if _, _, code := h.stint(h.workload, "request", "internal-api/admin"); code != 3 {
		t.Fatalf("request after the incident: exit %d, want 3", code)
	}
	out, _, _ := h.stint(h.admin, "audit", "--json")
	for _, want := range []string{`"event.received"`, `"window.opened"`, `"window.closed"`, `"grant.window_closed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Count(out, `"event.received"`) != 4 {
		t.Errorf("redelivered event recorded twice: %d event.received", strings.Count(out, `"event.received"`))
	}

	// The always-open schedule window provisioned its grant by itself.
	var prov []grantOut
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mustJSON(h.admin, &prov, "grants", "--principal", "window:always-on-schedule", "--state", "active", "--json")
		if len(prov) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(prov) == 0 || prov[0].Access != "internal-api/read" {
		t.Fatalf("provisioned grants: %+v", prov)
	}

	// The report answers with the contract's keys.
	var rep map[string]json.RawMessage
	h.mustJSON(h.admin, &rep, "report", "--json")
	for _, k := range []string{"period", "requests", "session_duration", "approval_latency", "unused_access", "standing_access",
		"ttl_recommendations", "denials", "bottlenecks", "over_approval", "revocation_failures", "by_policy"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
}
