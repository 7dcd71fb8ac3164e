package main_test

import (
	"strings"
	"testing"

	"github.com/stint-io/stint/internal/testenv"
)

const oidcConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  oidc:
    - name: github
      issuer: {{ISSUER}}
      audience: stint
      kind: workload
      subject: '"github:" + claims.repository + "@" + claims.ref'
  admins: [group:admins]
resources:
  internal-api:
    provider: token
    roles:
      deploy: { audience: internal-api, scopes: [deploy] }
policies:
  - name: ci-deploy
    who: principal.name == "github:acme/api@refs/heads/main" && principal.issuer == "github"
    access: [internal-api/deploy]
    ttl: 15m
`

// TestE2E_OIDC: a CI job authenticates with its OIDC ID token (workload
// identity federation), no static secret involved.
func TestE2E_OIDC(t *testing.T) {
	iss := testenv.StartOIDC(t)
	h := startHarnessWith(t, oidcConfig, map[string]string{"ISSUER": iss.Issuer()})
	main := iss.Token(map[string]any{"aud": "stint", "sub": "repo:acme/api:ref:refs/heads/main",
		"repository": "acme/api", "ref": "refs/heads/main"})
	var g grantOut
	h.mustJSON(main, &g, "request", "internal-api/deploy", "--reason", "release", "--json")
	if g.State != "active" || g.Principal != "github:acme/api@refs/heads/main" {
		t.Fatalf("OIDC request: %+v", g)
	}
	// Another branch is denied by policy; a token for another audience or
	// signed by someone else does not authenticate (exit 5).
	branch := iss.Token(map[string]any{"aud": "stint", "repository": "acme/api", "ref": "refs/heads/feature"})
	if _, _, code := h.stint(branch, "request", "internal-api/deploy"); code != 3 {
		t.Fatalf("feature branch: exit %d, want 3", code)
	}
	other := iss.Token(map[string]any{"aud": "someone-else", "repository": "acme/api", "ref": "refs/heads/main"})
	if _, errs, code := h.stint(other, "request", "internal-api/deploy"); code != 5 || strings.Contains(errs, other) {
		t.Fatalf("wrong audience: exit %d %s", code, errs)
	}
	forged := main[:strings.LastIndexByte(main, '.')+1] + "AAAA"
	if _, _, code := h.stint(forged, "whoami"); code != 5 {
		t.Fatalf("forged token: exit %d, want 5", code)
	}
	if out, _, code := h.stint(main, "whoami"); code != 0 || !strings.Contains(out, "github:acme/api@refs/heads/main (workload)") {
		t.Fatalf("whoami: %d %s", code, out)
	}
}
