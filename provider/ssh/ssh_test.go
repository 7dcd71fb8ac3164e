package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
	sshprov "github.com/stint-io/stint/provider/ssh"
)

func pemCAKey(t *testing.T) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(blk))
}

// indent makes a PEM block fit in a YAML block scalar.
func indent(s string) string { return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") }

func TestFactory_Validate(t *testing.T) {
	const secretMarker = "NOT-A-KEY-SECRET-MARKER"
	tests := []struct {
		name   string
		doc    string
		fields []string // want these FieldError paths; nil: valid
		other  bool     // want a non-FieldErrors error (decoding)
	}{
		{name: "Valid", doc: defaultConfig},
		{name: "ValidKeyType", doc: "provider: ssh\nkey_type: rsa\nroles:\n  r: { principals: [a] }\n"},
		{name: "NoRoles", doc: "provider: ssh\n", fields: []string{"roles"}},
		{name: "NoPrincipals", doc: "provider: ssh\nroles:\n  r: { extensions: [permit-pty] }\n", fields: []string{"roles.r.principals"}},
		{name: "BadPrincipal", doc: "provider: ssh\nroles:\n  r: { principals: [\"a,b\"] }\n", fields: []string{"roles.r.principals"}},
		{name: "UnknownExtension", doc: "provider: ssh\nroles:\n  r: { principals: [a], extensions: [permit-everything] }\n", fields: []string{"roles.r.extensions"}},
		{name: "VendorExtension", doc: "provider: ssh\nroles:\n  r: { principals: [a], extensions: [x@example.com] }\n"},
		{name: "UnknownCriticalOption", doc: "provider: ssh\nroles:\n  r: { principals: [a], critical_options: { verify-required: \"\" } }\n", fields: []string{"roles.r.critical_options.verify-required"}},
		{name: "BadSourceAddress", doc: "provider: ssh\nroles:\n  r: { principals: [a], critical_options: { source-address: \"10.0.0.0/33\" } }\n", fields: []string{"roles.r.critical_options.source-address"}},
		{name: "BadKeyType", doc: "provider: ssh\nkey_type: dsa\nroles:\n  r: { principals: [a] }\n", fields: []string{"key_type"}},
		{name: "BadCAKey", doc: "provider: ssh\nca_key: " + secretMarker + "\nroles:\n  r: { principals: [a] }\n", fields: []string{"ca_key"}},
		{name: "CAKey", doc: "provider: ssh\nca_key: |\n" + indent(pemCAKey(t)) + "\nroles:\n  r: { principals: [a] }\n"},
		{name: "Several", doc: "provider: ssh\nkey_type: x\nroles:\n  r: {}\n", fields: []string{"key_type", "roles.r.principals"}},
		{name: "UnknownField", doc: "provider: ssh\nroles:\n  r: { principals: [a], principal: b }\n", other: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := sshprov.NewFactory().Validate(yamlSpec(dir, newMockClock(), tt.doc))
			var fe stint.FieldErrors
			switch {
			case tt.other:
				if err == nil || errors.As(err, &fe) {
					t.Fatalf("Validate = %v, want a decoding error", err)
				}
			case tt.fields == nil:
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
			default:
				if !errors.As(err, &fe) {
					t.Fatalf("Validate = %v, want FieldErrors", err)
				}
				got := map[string]bool{}
				for _, e := range fe {
					got[e.Field] = true
				}
				for _, f := range tt.fields {
					if !got[f] {
						t.Errorf("Validate = %v, want an error on %s", err, f)
					}
				}
				if len(fe) != len(tt.fields) {
					t.Errorf("Validate = %v, want %d errors", err, len(tt.fields))
				}
			}
			if err != nil && strings.Contains(err.Error(), secretMarker) {
				t.Errorf("Validate error quotes the ca_key: %v", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("Validate created files: %v", ents)
			}
		})
	}
}

func TestFactory_New(t *testing.T) {
	t.Run("GeneratesAndReusesCA", func(t *testing.T) {
		dir := t.TempDir()
		_, p1 := mustProvider(t, dir, newMockClock(), defaultConfig)
		fi, err := os.Stat(filepath.Join(dir, sshprov.CAKeyFile))
		if err != nil {
			t.Fatalf("CA key not written: %v", err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("CA key mode = %v, want 0600", fi.Mode().Perm())
		}
		_, p2 := mustProvider(t, dir, newMockClock(), defaultConfig)
		if string(p1.CAPublicKey()) != string(p2.CAPublicKey()) {
			t.Error("a second New on the same data directory made a new CA key")
		}
		if _, _, _, _, err := gossh.ParseAuthorizedKey(p1.CAPublicKey()); err != nil {
			t.Errorf("CAPublicKey is not an authorized_keys line: %v", err)
		}
	})
	t.Run("ConfiguredCAKey", func(t *testing.T) {
		key := pemCAKey(t)
		signer, err := gossh.ParsePrivateKey([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		doc := "provider: ssh\nca_key: |\n" + indent(key) + "\nroles:\n  r: { principals: [a] }\n"
		f, p := mustProvider(t, dir, newMockClock(), doc)
		want := strings.Fields(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))[1]
		if got := strings.Fields(string(p.CAPublicKey()))[1]; got != want {
			t.Errorf("CAPublicKey = %s, want the configured key", p.CAPublicKey())
		}
		if string(f.CAPublicKeys()) != string(p.CAPublicKey()) {
			t.Errorf("Factory.CAPublicKeys = %q", f.CAPublicKeys())
		}
		if _, err := os.Stat(filepath.Join(dir, sshprov.CAKeyFile)); err == nil {
			t.Error("a CA key was generated although ca_key is set")
		}
	})
	t.Run("NoDataDir", func(t *testing.T) {
		_, err := sshprov.NewFactory().New(context.Background(), yamlSpec("", newMockClock(), defaultConfig))
		if stint.ErrorCode(err) != stint.EINVALID {
			t.Errorf("New without data dir = %v, want EINVALID", err)
		}
	})
}

func TestProvider_Issue(t *testing.T) {
	clock := newMockClock()
	_, p := mustProvider(t, t.TempDir(), clock, defaultConfig)
	ctx := context.Background()

	t.Run("Certificate", func(t *testing.T) {
		g := newGrant(clock.Now(), "ops", time.Hour)
		cred, err := p.Issue(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		c := parseCert(t, cred)
		serial, _ := strconv.ParseUint(g.ProviderData[sshprov.DataSerial], 10, 64)
		checks := []struct {
			name      string
			got, want any
		}{
			{"KeyId", c.KeyId, g.ID},
			{"CertType", c.CertType, uint32(gossh.UserCert)},
			{"Serial", c.Serial, serial},
			{"Principals", strings.Join(c.ValidPrincipals, ","), "stintdeploy,ops"},
			{"ValidAfter", c.ValidAfter, uint64(clock.Now().Add(-time.Minute).Unix())},
			{"ValidBefore", c.ValidBefore, uint64(g.ExpiresAt.Unix())},
			{"Extensions", len(c.Extensions), 2},
			{"ForceCommand", c.CriticalOptions["force-command"], "/bin/true"},
			{"SourceAddress", c.CriticalOptions["source-address"], "127.0.0.1/32,::1"},
			{"EnvCert", cred.Env[sshprov.EnvCertFile], sshprov.FileCert},
			{"EnvKey", cred.Env[sshprov.EnvKeyFile], sshprov.FileKey},
			{"EnvPrincipals", cred.Env[sshprov.EnvPrincipals], "stintdeploy,ops"},
			{"ExpiresAt", cred.ExpiresAt, *g.ExpiresAt},
			{"SignedByCA", string(gossh.MarshalAuthorizedKey(c.SignatureKey))[:40], string(p.CAPublicKey())[:40]},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
			}
		}
		if serial == 0 {
			t.Error("ProviderData serial is missing or zero")
		}
		key, err := gossh.ParsePrivateKey([]byte(cred.Files[sshprov.FileKey]))
		if err != nil {
			t.Fatalf("file id is not a private key: %v", err)
		}
		if string(key.PublicKey().Marshal()) != string(c.Key.Marshal()) {
			t.Error("the certificate does not certify the returned private key")
		}
	})

	t.Run("ReissueKeepsSerial", func(t *testing.T) {
		g := newGrant(clock.Now(), "deploy", time.Hour)
		first, err := p.Issue(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		second, err := p.Issue(ctx, g.Clone())
		if err != nil {
			t.Fatal(err)
		}
		if parseCert(t, first).Serial != parseCert(t, second).Serial {
			t.Error("issuing again changed the serial")
		}
	})

	t.Run("CallerKey", func(t *testing.T) {
		pub, _ := callerKey(t)
		g := newGrant(clock.Now(), "deploy", time.Hour)
		g.ProviderData = map[string]string{sshprov.DataPublicKey: pub}
		cred, err := p.Issue(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cred.Files[sshprov.FileKey]; ok {
			t.Error("credential has a private key although the caller sent its own")
		}
		if _, ok := cred.Env[sshprov.EnvKeyFile]; ok {
			t.Error("credential sets SSH_KEY_FILE although the caller sent its own key")
		}
		if got := string(gossh.MarshalAuthorizedKey(parseCert(t, cred).Key)); got != pub {
			t.Errorf("certified key = %q, want the caller's %q", got, pub)
		}
	})

	errTests := []struct {
		name   string
		mutate func(g *stint.Grant)
	}{
		{"UnknownRole", func(g *stint.Grant) { g.Access = "bastion/nope" }},
		{"NoExpiry", func(g *stint.Grant) { g.ExpiresAt = nil }},
		{"Expired", func(g *stint.Grant) { g.ExpiresAt = stint.TimePtr(clock.Now().Add(-time.Second)) }},
		{"BadCallerKey", func(g *stint.Grant) { g.ProviderData = map[string]string{sshprov.DataPublicKey: "ssh-ed25519 garbage"} }},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGrant(clock.Now(), "deploy", time.Hour)
			tt.mutate(g)
			_, err := p.Issue(ctx, g)
			if stint.ErrorCode(err) != stint.EINVALID || !stint.IsPermanent(err) {
				t.Errorf("Issue = %v, want a permanent EINVALID", err)
			}
		})
	}
}

func TestProvider_RevocationMode(t *testing.T) {
	_, p := mustProvider(t, t.TempDir(), newMockClock(), defaultConfig)
	if p.RevocationMode() != stint.RevocationEarly {
		t.Errorf("RevocationMode = %q", p.RevocationMode())
	}
}
