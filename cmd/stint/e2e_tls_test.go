package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2E_TLS serves the API over TLS and drives the CLI against it.
func TestE2E_TLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stint test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o600)
	writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})), 0o600)

	addr := freeAddr(t)
	token := "stint_tls_e2e_token"
	cfg := `server:
  listen: ` + addr + `
  url: https://` + addr + `
  tls_cert: ` + certPath + `
  tls_key: ` + keyPath + `
storage: sqlite:` + dir + `/stint.db
auth:
  tokens:
    - { subject: svc/app, kind: workload, sha256: ` + hash(token) + ` }
resources:
  api:
    provider: token
    roles:
      read: { audience: api }
policies:
  - name: p
    who: principal.kind == "workload"
    access: [api/read]
    ttl: 5m
`
	writeFile(t, filepath.Join(dir, "stint.yaml"), cfg, 0o600)
	srv := exec.Command(stintBin, "server", "--config", filepath.Join(dir, "stint.yaml"))
	logs := &syncBuffer{}
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get("https://" + addr + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS server not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP served on the TLS port")
	}
	cmd := exec.Command(stintBin, "request", "api/read", "--json")
	cmd.Env = append(os.Environ(), "STINT_ADDR=https://"+addr, "STINT_TOKEN="+token, "SSL_CERT_FILE="+certPath)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"state": "active"`) {
		t.Fatalf("request over TLS: %v\n%s\n%s", err, out, logs.String())
	}
}
