package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stint-io/stint/internal/testenv"
)

// sshKeygen runs ssh-keygen, failing t on error.
func sshKeygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(testenv.SSHKeygen, args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

func TestStartSSHD(t *testing.T) {
	if _, err := os.Stat(testenv.SSHKeygen); err != nil && os.Getenv(testenv.EnvRequireServices) == "" {
		t.Skip(testenv.ErrNoSSHD)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	key := filepath.Join(dir, "id")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-f", ca)
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-f", key)
	sshKeygen(t, "-q", "-s", ca, "-I", "testenv", "-n", testenv.SSHUser, "-z", "42", "-V", "-1m:+1h", key+".pub")
	caPub, err := os.ReadFile(ca + ".pub")
	if err != nil {
		t.Fatal(err)
	}

	d := testenv.StartSSHD(t, caPub, "")
	cert := key + "-cert.pub"
	testenv.EnsureUser(t, "stintother")

	t.Run("CertificateLogsIn", func(t *testing.T) {
		if err := d.Login(t, cert, key, testenv.SSHUser); err != nil {
			t.Fatalf("Login: %v\n%s", err, d.ServerLog())
		}
	})
	t.Run("OtherPrincipalRefused", func(t *testing.T) {
		if err := d.Login(t, cert, key, "stintother"); err == nil {
			t.Fatal("Login as a user not in the certificate's principals succeeded")
		}
	})
	t.Run("RevokedRefused", func(t *testing.T) {
		krl := filepath.Join(dir, "krl")
		spec := filepath.Join(dir, "krl.spec")
		if err := os.WriteFile(spec, []byte("serial: 42\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sshKeygen(t, "-k", "-f", krl, "-s", ca+".pub", spec)
		b, err := os.ReadFile(krl)
		if err != nil {
			t.Fatal(err)
		}
		d.WriteKRL(t, b)
		if err := d.Login(t, cert, key, testenv.SSHUser); err == nil {
			t.Fatal("Login with a revoked certificate succeeded")
		}
	})
}
