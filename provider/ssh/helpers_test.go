package ssh_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
	sshprov "github.com/stint-io/stint/provider/ssh"
)

// mockClock is a tiny manual clock; the tests here never wait on its timers.
type mockClock struct {
	mu  sync.Mutex
	now time.Time
}

func newMockClock() *mockClock {
	return &mockClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *mockClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *mockClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *mockClock) NewTimer(d time.Duration) stint.Timer { panic("mockClock: timers not supported") }

// yamlSpec returns a ResourceSpec whose Decode decodes doc strictly, as the
// configuration loader does.
func yamlSpec(dataDir string, clock stint.Clock, doc string) stint.ResourceSpec {
	return stint.ResourceSpec{
		Name: "bastion",
		Decode: func(v any) error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
			dec.KnownFields(true)
			return dec.Decode(v)
		},
		DataDir: dataDir,
		URL:     "https://stint.example.com",
		Clock:   clock,
	}
}

// testUser and otherUser are local users; the certificate of role deploy
// names only testUser.
const (
	testUser  = "stintdeploy" // testenv.SSHUser
	otherUser = "stintother"
)

const defaultConfig = `
provider: ssh
roles:
  deploy: { principals: [stintdeploy], extensions: [permit-pty] }
  ops:
    principals: [stintdeploy, ops]
    extensions: [permit-pty, permit-port-forwarding]
    critical_options: { force-command: /bin/true, source-address: "127.0.0.1/32,::1" }
`

// mustProvider builds a provider on dataDir from doc.
func mustProvider(tb testing.TB, dataDir string, clock stint.Clock, doc string) (*sshprov.Factory, *sshprov.Provider) {
	tb.Helper()
	f := sshprov.NewFactory()
	p, err := f.New(context.Background(), yamlSpec(dataDir, clock, doc))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return f, p.(*sshprov.Provider)
}

// newGrant returns a grant for bastion/ROLE active from now for ttl.
func newGrant(now time.Time, role string, ttl time.Duration) *stint.Grant {
	now = now.UTC().Truncate(time.Second)
	return &stint.Grant{
		ID:          stint.NewID(now),
		Principal:   "svc/deployer",
		Access:      "bastion/" + role,
		ActivatedAt: stint.TimePtr(now),
		ExpiresAt:   stint.TimePtr(now.Add(ttl)),
	}
}

// parseCert parses the credential's certificate.
func parseCert(t *testing.T, cred *stint.Credential) *gossh.Certificate {
	t.Helper()
	pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(cred.Files[sshprov.FileCert]))
	if err != nil {
		t.Fatalf("parse %s: %v", sshprov.FileCert, err)
	}
	c, ok := pub.(*gossh.Certificate)
	if !ok {
		t.Fatalf("%s holds a %T, not a certificate", sshprov.FileCert, pub)
	}
	return c
}

// writeCredential writes the credential's files into a new 0700 directory
// (as `stint exec` does) and returns it.
func writeCredential(t *testing.T, cred *stint.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp(t.TempDir(), "cred-")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range cred.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// callerKey makes a key pair as a requester would; it returns the public key
// line and the path of the private key file.
func callerKey(t *testing.T) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := gossh.MarshalPrivateKey(priv, "caller")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "caller_id")
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(gossh.MarshalAuthorizedKey(sp)), path
}
