package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stint-io/stint/internal/testenv"
)

const sshConfig = `server:
  listen: {{ADDR}}
  url: http://{{ADDR}}
storage: sqlite:{{DIR}}/stint.db
auth:
  tokens:
    - { subject: svc/deployer, kind: workload, sha256: {{WORKLOAD}} }
    - { subject: root@example.com, kind: human, groups: [admins], sha256: {{ADMIN}} }
  admins: [group:admins]
resources:
  bastion:
    provider: ssh
    roles:
      deploy: { principals: [{{USER}}], extensions: [permit-pty] }
policies:
  - name: deploys
    who: principal.name == "svc/deployer"
    access: [bastion/deploy]
    ttl: 10m
`

func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// TestE2E_SSH: short-lived SSH certificates from Stint's CA against a real
// sshd that trusts the CA and reads Stint's KRL.
func TestE2E_SSH(t *testing.T) {
	h := startHarnessWith(t, sshConfig, map[string]string{"USER": testenv.SSHUser})
	caPub := fetch(t, "http://"+h.addr+"/v1/ssh/ca.pub")
	krlPath := filepath.Join(t.TempDir(), "krl")
	sshd := testenv.StartSSHD(t, caPub, krlPath)

	// stint exec: the command gets the key and certificate files.
	cmdline := testenv.SSHPath + ` -i "$STINT_CREDENTIALS_DIR/id" -o CertificateFile="$SSH_CERT_FILE" -o StrictHostKeyChecking=no ` +
		`-o UserKnownHostsFile=/dev/null -o BatchMode=yes -p ` + fmt.Sprint(sshd.Port) + ` ` + testenv.SSHUser + `@127.0.0.1 echo logged-in-as-$SSH_PRINCIPALS`
	out, errs, code := h.stint(h.workload, "exec", "bastion/deploy", "--", "sh", "-c", `cd "$STINT_CREDENTIALS_DIR" && `+cmdline)
	if code != 0 || !strings.Contains(out, "logged-in-as-") {
		t.Fatalf("exec ssh: %d\n%s\n%s\nsshd: %s", code, out, errs, sshd.ServerLog())
	}

	// A credential kept after revocation stops working once servers have the KRL.
	dir := t.TempDir()
	out, _, _ = h.stint(h.workload, "request", "bastion/deploy", "--json")
	var full struct {
		ID         string `json:"id"`
		Credential struct {
			Env   map[string]string `json:"env"`
			Files map[string]string `json:"files"`
		} `json:"credential"`
	}
	if err := json.Unmarshal([]byte(out), &full); err != nil || full.Credential.Files["id"] == "" ||
		full.Credential.Env["SSH_PRINCIPALS"] != testenv.SSHUser {
		t.Fatalf("ssh credential: %v %s", err, out)
	}
	key, cert := filepath.Join(dir, "id"), filepath.Join(dir, "id-cert.pub")
	os.WriteFile(key, []byte(full.Credential.Files["id"]), 0o600)
	os.WriteFile(cert, []byte(full.Credential.Files["id-cert.pub"]), 0o600)
	if err := sshd.Login(t, cert, key, testenv.SSHUser); err != nil {
		t.Fatalf("login with the credential: %v", err)
	}
	if _, _, code := h.stint(h.workload, "revoke", full.ID); code != 0 {
		t.Fatal("revoke failed")
	}
	sshd.WriteKRL(t, fetch(t, "http://"+h.addr+"/v1/ssh/krl"))
	if err := sshd.Login(t, cert, key, testenv.SSHUser); err == nil {
		t.Fatal("login works after revocation and KRL update")
	}
}
