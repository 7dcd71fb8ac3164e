package token_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/token"
)

func TestFactory_Verify(t *testing.T) {
	clock := newMockClock()
	data := t.TempDir()
	f, p := mustProvider(t, data, clock)
	g := newGrant(clock, "admin", 10*time.Minute)
	tok := mustIssue(t, p, g)
	kid := kidOf(t, tok)
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Valid", func(t *testing.T) {
		c, err := f.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		want := token.Claims{
			Jti: g.ID, Issuer: issuer, Subject: g.Principal, Audience: "internal-api",
			Scope: "admin read:all", IssuedAt: clock.Now(), NotBefore: *g.ActivatedAt,
			Expiry: *g.ExpiresAt, KeyID: kid,
		}
		if *c != want {
			t.Fatalf("claims = %+v, want %+v", *c, want)
		}
	})

	b64 := base64.RawURLEncoding.EncodeToString
	tampered := strings.Replace(string(payload), "svc/nightly-backup", "svc/evil-backup000", 1)
	hs256 := func() string {
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
			(&jose.SignerOptions{}).WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := sig.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	foreign := func() string { // a valid ES256 token from another key set
		_, p2 := mustProvider(t, t.TempDir(), clock)
		return mustIssue(t, p2, newGrant(clock, "admin", time.Minute))
	}()
	notYet := func() string {
		g := newGrant(clock, "admin", time.Hour)
		g.ActivatedAt = stint.TimePtr(clock.Now().Add(time.Minute))
		return mustIssue(t, p, g)
	}()
	header := func(h map[string]string) string { b, _ := json.Marshal(h); return b64(b) }

	tests := []struct {
		name, tok string
	}{
		{"Empty", ""},
		{"Garbage", "not.a.jwt"},
		{"TamperedPayload", parts[0] + "." + b64([]byte(tampered)) + "." + parts[2]},
		{"TamperedSignature", parts[0] + "." + parts[1] + "." + b64(make([]byte, 64))},
		{"AlgNone", header(map[string]string{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + "."},
		{"HS256", hs256},
		{"UnknownKey", foreign},
		{"NoKeyID", header(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + parts[1] + "." + parts[2]},
		{"NotYetValid", notYet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.Verify(tt.tok)
			if stint.ErrorCode(err) != stint.EUNAUTHORIZED {
				t.Fatalf("Verify = %+v, %v; want EUNAUTHORIZED", c, err)
			}
			if tt.tok != "" && strings.Contains(err.Error(), tt.tok) {
				t.Fatal("error contains the token")
			}
		})
	}

	t.Run("OtherIssuer", func(t *testing.T) {
		other := token.NewFactory()
		spec := yamlSpec(data, clock, defaultConfig) // same keys, other issuer
		spec.URL = "https://other.example.com"
		if _, err := other.New(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Verify(tok); stint.ErrorCode(err) != stint.EUNAUTHORIZED {
			t.Fatalf("Verify = %v, want EUNAUTHORIZED", err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		clock.Advance(10*time.Minute - time.Second)
		if _, err := f.Verify(tok); err != nil {
			t.Fatalf("Verify a second before expiry: %v", err)
		}
		clock.Advance(time.Second)
		if _, err := f.Verify(tok); stint.ErrorCode(err) != stint.EUNAUTHORIZED {
			t.Fatalf("Verify at expiry = %v, want EUNAUTHORIZED", err)
		}
	})

	t.Run("BeforeNew", func(t *testing.T) {
		if _, err := token.NewFactory().Verify(tok); stint.ErrorCode(err) != stint.EUNAUTHORIZED {
			t.Fatalf("Verify = %v, want EUNAUTHORIZED", err)
		}
	})
}
