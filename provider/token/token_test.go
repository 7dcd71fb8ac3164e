package token_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/providertest"
	"github.com/stint-io/stint/provider/token"
)

func TestFactory_Validate(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		fields []string // want these FieldError paths; nil: valid
		other  bool     // want a non-FieldErrors error (decoding)
	}{
		{name: "Valid", doc: defaultConfig},
		{name: "DefaultRotation", doc: "provider: token\nroles:\n  r: { audience: a }\n"},
		{name: "MissingAudience", doc: "provider: token\nroles:\n  admin: { scopes: [x] }\n", fields: []string{"roles.admin.audience"}},
		{name: "NoRoles", doc: "provider: token\n", fields: []string{"roles"}},
		{name: "BadRotation", doc: "provider: token\nkey_rotation: soon\nroles:\n  r: { audience: a }\n", fields: []string{"key_rotation"}},
		{name: "ShortRotation", doc: "provider: token\nkey_rotation: 5m\nroles:\n  r: { audience: a }\n", fields: []string{"key_rotation"}},
		{name: "BadScope", doc: "provider: token\nroles:\n  r: { audience: a, scopes: [\"a b\"] }\n", fields: []string{"roles.r.scopes"}},
		{name: "Several", doc: "provider: token\nkey_rotation: x\nroles:\n  r: {}\n", fields: []string{"key_rotation", "roles.r.audience"}},
		{name: "UnknownField", doc: "provider: token\nroles:\n  r: { audience: a, audiance: b }\n", other: true},
		{name: "UnknownTopField", doc: "provider: token\nttl: 1h\nroles:\n  r: { audience: a }\n", other: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := token.NewFactory().Validate(yamlSpec(dir, newMockClock(), tt.doc))
			checkValidate(t, err, tt.fields, tt.other)
			if ents, _ := readDir(dir); len(ents) != 0 {
				t.Errorf("Validate created files: %v", ents)
			}
		})
	}

	t.Run("JSONDecoder", func(t *testing.T) {
		f := token.NewFactory()
		err := f.Validate(jsonSpec(t.TempDir(), newMockClock(),
			`{"provider":"token","key_rotation":"7d","roles":{"admin":{"audience":"api","scopes":["a"]}}}`))
		checkValidate(t, err, nil, false)
		err = f.Validate(jsonSpec(t.TempDir(), newMockClock(), `{"provider":"token","roles":{"admin":{}}}`))
		checkValidate(t, err, []string{"roles.admin.audience"}, false)
	})
}

func checkValidate(t *testing.T, err error, fields []string, other bool) {
	t.Helper()
	var fe stint.FieldErrors
	switch {
	case other:
		if err == nil || errors.As(err, &fe) {
			t.Fatalf("Validate = %v, want a decoding error", err)
		}
	case fields == nil:
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
		for _, f := range fields {
			if !got[f] {
				t.Errorf("Validate = %v, want an error on %s", err, f)
			}
		}
		if len(fe) != len(fields) {
			t.Errorf("Validate = %v, want %d errors", err, len(fields))
		}
	}
}

func TestFactory_New(t *testing.T) {
	t.Run("NeedsURL", func(t *testing.T) {
		spec := yamlSpec(t.TempDir(), newMockClock(), defaultConfig)
		spec.URL = ""
		if _, err := token.NewFactory().New(context.Background(), spec); stint.ErrorCode(err) != stint.EINVALID {
			t.Fatalf("New without URL = %v, want EINVALID", err)
		}
	})
	t.Run("Type", func(t *testing.T) {
		if got := token.NewFactory().Type(); got != "token" {
			t.Fatalf("Type = %q", got)
		}
	})
	t.Run("JWKSBeforeNew", func(t *testing.T) {
		b, err := token.NewFactory().JWKS()
		if err != nil || string(b) != `{"keys":[]}` {
			t.Fatalf("JWKS = %s, %v", b, err)
		}
	})
}

func TestProvider_Issue(t *testing.T) {
	clock := newMockClock()
	f, p := mustProvider(t, t.TempDir(), clock)

	t.Run("ClaimsExact", func(t *testing.T) {
		g := newGrant(clock, "admin", 15*time.Minute)
		activated := *g.ActivatedAt
		clock.Advance(2 * time.Second) // issued a little after activation
		cred, err := p.Issue(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if cred.GrantID != g.ID || !cred.ExpiresAt.Equal(*g.ExpiresAt) || len(cred.Env) != 1 {
			t.Fatalf("credential: grant %s, expires %v, %d variables", cred.GrantID, cred.ExpiresAt, len(cred.Env))
		}
		tok := cred.Env["STINT_ACCESS_TOKEN"]
		jwks, err := f.JWKS()
		if err != nil {
			t.Fatal(err)
		}
		_, raw, err := verifyAsResourceServer(t, jwks, tok, "internal-api", clock.Now())
		if err != nil {
			t.Fatalf("resource server rejects the token: %v", err)
		}
		want := map[string]any{
			"iss":   issuer,
			"sub":   "svc/nightly-backup",
			"aud":   "internal-api",
			"scope": "admin read:all",
			"iat":   float64(clock.Now().Unix()),
			"nbf":   float64(activated.Unix()),
			"exp":   float64(g.ExpiresAt.Unix()),
			"jti":   g.ID,
		}
		if len(raw) != len(want) {
			t.Errorf("claims = %v, want exactly %v", raw, want)
		}
		for k, v := range want {
			if raw[k] != v {
				t.Errorf("claim %s = %#v, want %#v", k, raw[k], v)
			}
		}
		if g.ProviderData["kid"] != kidOf(t, tok) {
			t.Errorf("ProviderData kid = %q, token kid %q", g.ProviderData["kid"], kidOf(t, tok))
		}
	})

	t.Run("NoScopes", func(t *testing.T) {
		g := newGrant(clock, "plain", time.Minute)
		tok := mustIssue(t, p, g)
		claims, err := f.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if claims.Audience != "other-api" || claims.Scope != "" {
			t.Fatalf("claims = %+v", claims)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		past := newGrant(clock, "admin", time.Minute)
		past.ExpiresAt = stint.TimePtr(clock.Now().Add(-time.Second))
		noExpiry := newGrant(clock, "admin", time.Minute)
		noExpiry.ExpiresAt = nil
		for name, g := range map[string]*stint.Grant{
			"UnknownRole": newGrant(clock, "nope", time.Minute),
			"Expired":     past,
			"NoExpiry":    noExpiry,
		} {
			t.Run(name, func(t *testing.T) {
				_, err := p.Issue(context.Background(), g)
				if stint.ErrorCode(err) != stint.EINVALID || !stint.IsPermanent(err) {
					t.Fatalf("Issue = %v, want a permanent EINVALID", err)
				}
			})
		}
	})
}

func TestProvider_Revoke(t *testing.T) {
	clock := newMockClock()
	_, p := mustProvider(t, t.TempDir(), clock)
	if m := p.(stint.RevocationModer).RevocationMode(); m != stint.RevocationExpiryOnly {
		t.Fatalf("RevocationMode = %q", m)
	}
	if _, ok := p.(stint.Renewer); ok {
		t.Fatal("token provider must not implement Renewer: a JWT's exp cannot change")
	}
	if err := p.Revoke(context.Background(), newGrant(clock, "admin", time.Minute)); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
}

func TestProvider_Conformance(t *testing.T) {
	clock := newMockClock()
	f, p := mustProvider(t, t.TempDir(), clock)
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Grant: func() *stint.Grant {
			return providertest.NewGrant(clock.Now(), "internal-api/admin", 10*time.Minute)
		},
		CheckAccess: func(t *testing.T, g *stint.Grant, cred *stint.Credential) bool {
			jwks, err := f.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := verifyAsResourceServer(t, jwks, cred.Env[token.EnvAccessToken], "internal-api", clock.Now())
			return err == nil && c.ID == g.ID && c.Subject == g.Principal
		},
	})
}
