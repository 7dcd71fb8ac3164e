package ssh_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	sshprov "github.com/stint-io/stint/provider/ssh"
)

// queryKRL asks ssh-keygen whether the certificate in certFile is revoked
// by the KRL krl.
func queryKRL(t *testing.T, krl []byte, certFile string) bool {
	t.Helper()
	if _, err := os.Stat(testenv.SSHKeygen); err != nil {
		if os.Getenv(testenv.EnvRequireServices) == "" {
			t.Skip(testenv.ErrNoSSHD)
		}
		t.Fatal(testenv.ErrNoSSHD)
	}
	path := filepath.Join(t.TempDir(), "krl")
	if err := os.WriteFile(path, krl, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.SSHKeygen, "-Q", "-f", path, certFile).CombinedOutput()
	if err == nil {
		return false
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && bytes.Contains(out, []byte("REVOKED")) {
		return true
	}
	t.Fatalf("ssh-keygen -Q: %v\n%s", err, out)
	return false
}

func TestProvider_KRL(t *testing.T) {
	clock := newMockClock()
	dir := t.TempDir()
	f, p := mustProvider(t, dir, clock, defaultConfig)
	ctx := context.Background()

	issue := func(t *testing.T, ttl time.Duration) (*stint.Grant, string) {
		t.Helper()
		g := newGrant(clock.Now(), "deploy", ttl)
		cred, err := p.Issue(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		return g, filepath.Join(writeCredential(t, cred), sshprov.FileCert)
	}
	krl := func(t *testing.T) []byte {
		t.Helper()
		b, err := p.KRL()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("SSHKRL\n\x00\x00\x00\x00\x01")) {
			t.Fatalf("KRL header = %q", b[:min(len(b), 12)])
		}
		return b
	}

	empty := krl(t)
	revoked, revokedCert := issue(t, time.Hour)
	_, keptCert := issue(t, time.Hour)
	crashed, crashedCert := issue(t, time.Hour)
	short, shortCert := issue(t, time.Minute)
	serialOnly, serialOnlyCert := issue(t, time.Hour)

	t.Run("EmptyRevokesNothing", func(t *testing.T) {
		if queryKRL(t, empty, revokedCert) {
			t.Error("the empty KRL revokes a certificate")
		}
	})

	for _, g := range []*stint.Grant{revoked, short} {
		if err := p.Revoke(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// A grant whose serial was never recorded (a crash after signing) is
	// still revoked, by key id.
	lost := crashed.Clone()
	lost.ProviderData = nil
	if err := p.Revoke(ctx, lost); err != nil {
		t.Fatal(err)
	}

	// Revoking another grant id with the same serial checks the serial list alone.
	other := serialOnly.Clone()
	other.ID = stint.NewID(clock.Now().Add(time.Millisecond))
	if err := p.Revoke(ctx, other); err != nil {
		t.Fatal(err)
	}

	t.Run("RevokedBySerialAndKeyID", func(t *testing.T) {
		b := krl(t)
		if !queryKRL(t, b, serialOnlyCert) {
			t.Error("certificate revoked by serial only not in the KRL")
		}
		if !queryKRL(t, b, revokedCert) {
			t.Error("revoked certificate not in the KRL")
		}
		if !queryKRL(t, b, crashedCert) {
			t.Error("certificate revoked by key id only not in the KRL")
		}
		if queryKRL(t, b, keptCert) {
			t.Error("a certificate never revoked is in the KRL")
		}
		fb, err := f.KRL()
		if err != nil {
			t.Fatal(err)
		}
		if !queryKRL(t, fb, revokedCert) || queryKRL(t, fb, keptCert) {
			t.Error("Factory.KRL does not agree with Provider.KRL")
		}
	})

	t.Run("Persisted", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(dir, sshprov.KRLFile))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", sshprov.KRLFile, fi.Mode().Perm())
		}
		_, p2 := mustProvider(t, dir, clock, defaultConfig)
		b, err := p2.KRL()
		if err != nil {
			t.Fatal(err)
		}
		if !queryKRL(t, b, revokedCert) {
			t.Error("a provider reopened on the data directory forgot the revocation")
		}
	})

	t.Run("ExpiredDropped", func(t *testing.T) {
		clock.Advance(2 * time.Minute)
		if !queryKRL(t, krl(t), revokedCert) {
			t.Error("unexpired revoked certificate dropped")
		}
		if queryKRL(t, krl(t), shortCert) {
			t.Error("expired certificate still listed in the KRL")
		}
		clock.Advance(2 * time.Hour)
		if b := krl(t); len(b) != len(empty) {
			t.Errorf("KRL after every certificate expired has %d bytes, want %d (empty)", len(b), len(empty))
		}
	})
}
