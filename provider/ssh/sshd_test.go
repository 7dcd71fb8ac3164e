package ssh_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/testenv"
	"github.com/stint-io/stint/provider/providertest"
	sshprov "github.com/stint-io/stint/provider/ssh"
)

// realSSHD builds a provider on the real clock and an sshd trusting its CA.
func realSSHD(t *testing.T) (*sshprov.Provider, *testenv.SSHD) {
	t.Helper()
	_, p := mustProvider(t, t.TempDir(), stint.SystemClock, defaultConfig)
	d := testenv.StartSSHD(t, p.CAPublicKey(), "")
	testenv.EnsureUser(t, otherUser)
	return p, d
}

// syncKRL publishes the provider's KRL to the sshd, as a server would by
// fetching /v1/ssh/krl into RevokedKeys.
func syncKRL(t *testing.T, p *sshprov.Provider, d *testenv.SSHD) {
	t.Helper()
	b, err := p.KRL()
	if err != nil {
		t.Fatalf("KRL: %v", err)
	}
	d.WriteKRL(t, b)
}

// login logs in with the credential's files (the private key from keyFile
// when the credential has none) as user.
func login(t *testing.T, d *testenv.SSHD, cred *stint.Credential, keyFile, user string) error {
	t.Helper()
	dir := writeCredential(t, cred)
	if keyFile == "" {
		keyFile = filepath.Join(dir, cred.Env[sshprov.EnvKeyFile])
	}
	return d.Login(t, filepath.Join(dir, cred.Env[sshprov.EnvCertFile]), keyFile, user)
}

func TestProvider_SSHD(t *testing.T) {
	p, d := realSSHD(t)
	ctx := context.Background()
	issue := func(t *testing.T, g *stint.Grant) *stint.Credential {
		t.Helper()
		cred, err := p.Issue(ctx, g)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		return cred
	}

	t.Run("LogsIn", func(t *testing.T) {
		cred := issue(t, newGrant(time.Now(), "deploy", time.Hour))
		if err := login(t, d, cred, "", testUser); err != nil {
			t.Fatalf("login: %v\n%s", err, d.ServerLog())
		}
	})

	t.Run("WrongPrincipalRefused", func(t *testing.T) {
		cred := issue(t, newGrant(time.Now(), "deploy", time.Hour))
		if err := login(t, d, cred, "", otherUser); err == nil {
			t.Fatalf("login as %s with a certificate for %s succeeded", otherUser, testUser)
		}
	})

	t.Run("RevokedRefused", func(t *testing.T) {
		g := newGrant(time.Now(), "deploy", time.Hour)
		cred := issue(t, g)
		keep := issue(t, newGrant(time.Now(), "deploy", time.Hour))
		if err := login(t, d, cred, "", testUser); err != nil {
			t.Fatalf("login before revoke: %v", err)
		}
		if err := p.Revoke(ctx, g); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		syncKRL(t, p, d)
		if err := login(t, d, cred, "", testUser); err == nil {
			t.Fatal("login with a revoked certificate succeeded")
		}
		if log := d.ServerLog(); !strings.Contains(log, "revoked") {
			t.Errorf("sshd log does not say the key was revoked:\n%s", log)
		}
		if err := login(t, d, keep, "", testUser); err != nil {
			t.Fatalf("another grant's certificate refused after the revocation: %v\n%s", err, d.ServerLog())
		}
	})

	t.Run("ExpiredRefused", func(t *testing.T) {
		// Real time: the certificate expires in two to three seconds.
		g := newGrant(time.Now(), "deploy", time.Hour)
		g.ExpiresAt = stint.TimePtr(time.Now().Truncate(time.Second).Add(3 * time.Second))
		cred := issue(t, g)
		if err := login(t, d, cred, "", testUser); err != nil {
			t.Fatalf("login before expiry: %v\n%s", err, d.ServerLog())
		}
		time.Sleep(time.Until(*g.ExpiresAt) + 1100*time.Millisecond)
		if err := login(t, d, cred, "", testUser); err == nil {
			t.Fatal("login with an expired certificate succeeded")
		}
		if log := d.ServerLog(); !strings.Contains(log, "expired") {
			t.Errorf("sshd log does not say the certificate expired:\n%s", log)
		}
	})

	t.Run("CallerKey", func(t *testing.T) {
		pub, keyFile := callerKey(t)
		g := newGrant(time.Now(), "deploy", time.Hour)
		g.ProviderData = map[string]string{sshprov.DataPublicKey: pub}
		cred := issue(t, g)
		if err := login(t, d, cred, keyFile, testUser); err != nil {
			t.Fatalf("login with the caller's key: %v\n%s", err, d.ServerLog())
		}
		if err := p.Revoke(ctx, g); err != nil {
			t.Fatal(err)
		}
		syncKRL(t, p, d)
		if err := login(t, d, cred, keyFile, testUser); err == nil {
			t.Fatal("login with the caller's key after Revoke succeeded")
		}
	})
}

func TestProvider_Conformance(t *testing.T) {
	p, d := realSSHD(t)
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Grant: func() *stint.Grant {
			return providertest.NewGrant(time.Now(), "bastion/deploy", time.Hour)
		},
		CheckAccess: func(t *testing.T, g *stint.Grant, cred *stint.Credential) bool {
			syncKRL(t, p, d)
			return login(t, d, cred, "", testUser) == nil
		},
	})
}
