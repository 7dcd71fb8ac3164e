package authn_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/testenv"
)

const githubSubject = `"github:" + claims.repository + "@" + claims.ref`

// oidcEnv is an issuer, a mock clock it shares with the OIDC under test,
// and that OIDC, trusting the issuer as "github" (audience stint, the
// CONTRACT subject expression) and as "plain" (audience other, the
// default subject, kind human).
type oidcEnv struct {
	iss   *testenv.OIDCIssuer
	clock *clocktest.Clock
	oidc  *authn.OIDC
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	iss := testenv.StartOIDC(t)
	clock := clocktest.New(time.Now().Truncate(time.Second))
	iss.SetClock(clock)
	subj, err := policy.CompileSubject(githubSubject)
	if err != nil {
		t.Fatal(err)
	}
	o, err := authn.NewOIDC(context.Background(), []authn.OIDCIssuer{
		{Name: "github", Issuer: iss.Issuer(), Audience: "stint", Subject: subj},
		{Name: "plain", Issuer: iss.Issuer(), Audience: "other", Kind: stint.KindHuman},
	}, []string{"group:admins"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(slog.DiscardHandler)
	return &oidcEnv{iss: iss, clock: clock, oidc: o}
}

// ghClaims returns the claims of a GitHub Actions token for acme/api on main.
func ghClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"sub":        "repo:acme/api:ref:refs/heads/main",
		"aud":        "stint",
		"repository": "acme/api",
		"ref":        "refs/heads/main",
		"workflow":   "deploy",
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// wantErr checks that err has code and, unless msg is "", message msg,
// and that it does not contain token.
func wantErr(t *testing.T, p *stint.Principal, err error, code, msg, token string) {
	t.Helper()
	if p != nil || stint.ErrorCode(err) != code || (msg != "" && stint.ErrorMessage(err) != msg) {
		t.Fatalf("got %+v, %v; want %s %q", p, err, code, msg)
	}
	if token != "" && strings.Contains(err.Error(), token) {
		t.Fatalf("error %q contains the token", err)
	}
}

func TestOIDC_Authenticate(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	now := e.clock.Now()

	tests := []struct {
		name    string
		claims  map[string]any
		want    *stint.Principal // nil: an error
		wantMsg string
	}{
		{"GitHubActions", ghClaims(nil), &stint.Principal{Name: "github:acme/api@refs/heads/main", Kind: "workload", Issuer: "github"}, ""},
		{"AudienceList", ghClaims(map[string]any{"aud": []string{"x", "stint"}}), &stint.Principal{Name: "github:acme/api@refs/heads/main", Kind: "workload", Issuer: "github"}, ""},
		{"DefaultSubject", map[string]any{"sub": "alice", "aud": "other"}, &stint.Principal{Name: "plain:alice", Kind: "human", Issuer: "plain"}, ""},
		// A groups claim never makes Stint groups (group:admins is an admin ref).
		{"GroupsClaimIgnored", map[string]any{"sub": "bob", "aud": "other", "groups": []string{"ops", "admins"}},
			&stint.Principal{Name: "plain:bob", Kind: "human", Issuer: "plain"}, ""},
		{"GroupsNotStrings", map[string]any{"sub": "bob", "aud": "other", "groups": []any{"admins", 1}},
			&stint.Principal{Name: "plain:bob", Kind: "human", Issuer: "plain"}, ""},
		{"WrongAudience", ghClaims(map[string]any{"aud": "someone-else"}), nil, "invalid token: wrong audience"},
		{"NoAudience", ghClaims(map[string]any{"aud": nil}), nil, "invalid token: wrong audience"},
		{"Expired", ghClaims(map[string]any{"exp": now.Add(-time.Second).Unix()}), nil, "token expired"},
		{"NoExpiry", ghClaims(map[string]any{"exp": nil}), nil, "token expired"},
		{"NotYetValid", ghClaims(map[string]any{"nbf": now.Add(time.Hour).Unix()}), nil, "invalid token: not valid yet"},
		{"IssuedInFuture", ghClaims(map[string]any{"iat": now.Add(time.Hour).Unix()}), nil, "invalid token: issued in the future"},
		{"UnknownIssuer", ghClaims(map[string]any{"iss": "https://token.example.com"}), nil, "invalid token: unknown issuer"},
		{"IssuerWithSlash", ghClaims(map[string]any{"iss": e.iss.Issuer() + "/"}), nil, "invalid token: unknown issuer"},
		{"SubjectFails", ghClaims(map[string]any{"repository": nil}), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := e.iss.Token(tt.claims)
			p, err := e.oidc.Authenticate(ctx, tok)
			if tt.want == nil {
				wantErr(t, p, err, stint.EUNAUTHORIZED, tt.wantMsg, tok)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want.Name || p.Kind != tt.want.Kind || p.Issuer != tt.want.Issuer || p.Admin != tt.want.Admin ||
				strings.Join(p.Groups, ",") != strings.Join(tt.want.Groups, ",") {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
			if p.Claims["sub"] != tt.claims["sub"] || p.Claims["iss"] != e.iss.Issuer() {
				t.Fatalf("claims %v", p.Claims)
			}
		})
	}
}

func TestOIDC_Authenticate_expiresWithClock(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	tok := e.iss.Token(ghClaims(nil)) // exp: now + 10m
	if _, err := e.oidc.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(10*time.Minute + time.Second)
	p, err := e.oidc.Authenticate(ctx, tok)
	wantErr(t, p, err, stint.EUNAUTHORIZED, "token expired", tok)
}

// signed returns a compact JWS of claims signed with alg and key, with
// header kid.
func signed(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}

func TestOIDC_Authenticate_forged(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	if _, err := e.oidc.Authenticate(ctx, e.iss.Token(ghClaims(nil))); err != nil {
		t.Fatal(err) // discovery and keys fetched
	}
	e.clock.Add(10 * time.Second) // an unknown key ID may be fetched again
	claims := ghClaims(map[string]any{"iss": e.iss.Issuer(), "exp": e.clock.Now().Add(time.Minute).Unix()})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	b64 := func(v any) string { j, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(j) }

	tests := []struct {
		name    string
		token   string
		wantMsg string
	}{
		{"OtherKeySameKID", signed(t, jose.RS256, other, e.iss.KeyID(), claims), "invalid token: bad signature"},
		{"OtherKeyUnknownKID", signed(t, jose.RS256, other, "unknown", claims), "invalid token: bad signature"},
		{"AlgNone", b64(map[string]string{"alg": "none", "kid": e.iss.KeyID()}) + "." + b64(claims) + ".", "invalid token"},
		{"AlgNoneWithSignature", b64(map[string]string{"alg": "none", "kid": e.iss.KeyID()}) + "." + b64(claims) + ".AAAA", "invalid token: unsupported algorithm"},
		{"HS256PublicKeyDER", signed(t, jose.HS256, pubDER, e.iss.KeyID(), claims), "invalid token: unsupported algorithm"},
		{"HS256PublicKeyModulus", signed(t, jose.HS256, other.PublicKey.N.Bytes(), e.iss.KeyID(), claims), "invalid token: unsupported algorithm"},
		{"SignatureStripped", strings.Join(strings.Split(e.iss.Token(ghClaims(nil)), ".")[:2], ".") + ".", "invalid token"},
		{"PayloadSwapped", func() string {
			parts := strings.Split(e.iss.Token(map[string]any{"sub": "x", "aud": "other"}), ".")
			return parts[0] + "." + b64(claims) + "." + parts[2]
		}(), "invalid token: bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.oidc.Authenticate(ctx, tt.token)
			wantErr(t, p, err, stint.EUNAUTHORIZED, tt.wantMsg, tt.token)
		})
	}
	// Only the first unknown key ID may make Stint fetch the keys again:
	// discovery + JWKS at first, one JWKS fetch for "unknown".
	if n := e.iss.Requests(); n != 3 {
		t.Fatalf("issuer got %d requests, want 3", n)
	}
}

func TestOIDC_Authenticate_keyRotation(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	old := e.iss.Token(ghClaims(nil))
	if _, err := e.oidc.Authenticate(ctx, old); err != nil {
		t.Fatal(err)
	}
	if n := e.iss.Requests(); n != 2 {
		t.Fatalf("got %d requests, want 2 (discovery, JWKS)", n)
	}

	e.iss.RotateKey()
	fresh := e.iss.Token(ghClaims(map[string]any{"exp": e.clock.Now().Add(3 * time.Hour).Unix()}))
	// Within 10 s of the last fetch a new key ID is not fetched.
	p, err := e.oidc.Authenticate(ctx, fresh)
	wantErr(t, p, err, stint.EUNAUTHORIZED, "invalid token: bad signature", fresh)
	if n := e.iss.Requests(); n != 2 {
		t.Fatalf("got %d requests, want 2", n)
	}

	e.clock.Add(10 * time.Second)
	if _, err := e.oidc.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if n := e.iss.Requests(); n != 3 {
		t.Fatalf("got %d requests, want 3 (JWKS fetched for the new kid)", n)
	}
	if _, err := e.oidc.Authenticate(ctx, old); err != nil {
		t.Fatalf("old key, still published: %v", err)
	}

	// Keys cached: the issuer going down does not matter for known keys,
	// but a key ID it never published is unavailable, not unauthorized.
	e.iss.SetDown(true)
	e.clock.Add(10 * time.Second)
	if _, err := e.oidc.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("cached key while issuer down: %v", err)
	}
	e.iss.RotateKey()
	newer := e.iss.Token(ghClaims(nil))
	p, err = e.oidc.Authenticate(ctx, newer)
	wantErr(t, p, err, stint.EUNAVAILABLE, "OIDC issuer keys unavailable", newer)

	// After an hour cached keys are re-fetched; if that fails they are
	// still used.
	e.clock.Add(time.Hour)
	tok := e.iss.Token(ghClaims(nil)) // newer key: still unknown
	p, err = e.oidc.Authenticate(ctx, tok)
	wantErr(t, p, err, stint.EUNAVAILABLE, "", tok)
	if _, err := e.oidc.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("stale cached key while issuer down: %v", err)
	}
	before := e.iss.Requests()
	e.clock.Add(10 * time.Second)
	if _, err := e.oidc.Authenticate(ctx, fresh); err != nil || e.iss.Requests() != before+1 {
		t.Fatalf("stale keys: %v, %d requests, want a retry", err, e.iss.Requests()-before)
	}
	e.iss.SetDown(false)
	e.clock.Add(10 * time.Second)
	if _, err := e.oidc.Authenticate(ctx, e.iss.Token(ghClaims(nil))); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}

func TestOIDC_Authenticate_issuerDownAtStart(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	e.iss.SetDown(true)
	tok := e.iss.Token(ghClaims(nil))
	p, err := e.oidc.Authenticate(ctx, tok)
	wantErr(t, p, err, stint.EUNAVAILABLE, "OIDC issuer "+e.iss.Issuer()+" unavailable", tok)
	tried := e.iss.Requests()

	e.iss.SetDown(false)
	p, err = e.oidc.Authenticate(ctx, tok) // within 10 s: not retried
	wantErr(t, p, err, stint.EUNAVAILABLE, "", tok)
	if n := e.iss.Requests(); n != tried {
		t.Fatalf("discovery retried within 10 s: %d requests, want %d", n, tried)
	}

	e.clock.Add(10 * time.Second)
	p, err = e.oidc.Authenticate(ctx, tok)
	if err != nil || p.Name != "github:acme/api@refs/heads/main" {
		t.Fatalf("got %+v, %v", p, err)
	}
}

func TestOIDC_Authenticate_notAJWT(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	static, err := authn.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tok := range []string{
		"",
		static,
		"a.b",
		"a.b.c.d",
		"a..c",
		"a b.c.d",
		b64(`{"alg":"RS256"}`) + "." + b64(`{"sub":"x"}`) + ".c",                 // no iss
		b64(`{"alg":"RS256"}`) + "." + b64(`not json`) + ".c",                    // payload not JSON
		b64(`{"alg":"RS256"}`) + "." + b64(`{"iss":"https://x.example"}`) + ".c", // unknown issuer
		strings.Repeat("a", 20000) + ".b.c",
	} {
		p, err := e.oidc.Authenticate(ctx, tok)
		wantErr(t, p, err, stint.EUNAUTHORIZED, "", tok)
	}
	if n := e.iss.Requests(); n != 0 {
		t.Fatalf("issuer contacted %d times", n)
	}
}

func TestOIDC_chain(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	static := mustStatic(t, []authn.Token{{Subject: "svc/backup", Kind: stint.KindWorkload, SHA256: authn.HashToken("stint_backup")}}, nil)
	chain := authn.Chain{static, e.oidc}

	for _, tt := range []struct {
		name, token, wantName, wantIssuer string
	}{
		{"Static", "stint_backup", "svc/backup", "static"},
		{"OIDC", e.iss.Token(ghClaims(nil)), "github:acme/api@refs/heads/main", "github"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := chain.Authenticate(ctx, tt.token)
			if err != nil || p.Name != tt.wantName || p.Issuer != tt.wantIssuer {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
	t.Run("Neither", func(t *testing.T) {
		p, err := chain.Authenticate(ctx, "stint_nope")
		wantErr(t, p, err, stint.EUNAUTHORIZED, "invalid token", "stint_nope")
	})
	t.Run("IssuerDown", func(t *testing.T) {
		e := newOIDCEnv(t)
		e.iss.SetDown(true)
		chain := authn.Chain{static, e.oidc}
		tok := e.iss.Token(ghClaims(nil))
		p, err := chain.Authenticate(ctx, tok)
		wantErr(t, p, err, stint.EUNAVAILABLE, "", tok)
		if p, err := chain.Authenticate(ctx, "stint_backup"); err != nil || p.Name != "svc/backup" {
			t.Fatalf("static while issuer down: %+v, %v", p, err)
		}
	})
	t.Run("ExpiredJWT", func(t *testing.T) {
		tok := e.iss.Token(ghClaims(map[string]any{"exp": e.clock.Now().Add(-time.Minute).Unix()}))
		p, err := chain.Authenticate(ctx, tok)
		wantErr(t, p, err, stint.EUNAUTHORIZED, "token expired", tok)
	})
}

func TestNewOIDC(t *testing.T) {
	tests := []struct {
		name    string
		issuers []authn.OIDCIssuer
		wantErr string
	}{
		{"Empty", nil, ""},
		{"Valid", []authn.OIDCIssuer{{Name: "gh", Issuer: "https://token.actions.githubusercontent.com", Audience: "stint"}}, ""},
		{"Loopback", []authn.OIDCIssuer{{Name: "l", Issuer: "http://127.0.0.1:5556", Audience: "a", Kind: "human"}}, ""},
		{"NoName", []authn.OIDCIssuer{{Issuer: "https://x", Audience: "a"}}, "auth.oidc[0].name: required"},
		{"DuplicateName", []authn.OIDCIssuer{{Name: "a", Issuer: "https://x", Audience: "a"}, {Name: "a", Issuer: "https://y", Audience: "a"}}, "auth.oidc[1].name: duplicate"},
		{"PlainHTTP", []authn.OIDCIssuer{{Name: "a", Issuer: "http://issuer.example.com", Audience: "a"}}, "auth.oidc[0].issuer"},
		{"NoIssuer", []authn.OIDCIssuer{{Name: "a", Audience: "a"}}, "auth.oidc[0].issuer"},
		{"NoAudience", []authn.OIDCIssuer{{Name: "a", Issuer: "https://x"}}, "auth.oidc[0].audience: required"},
		{"BadKind", []authn.OIDCIssuer{{Name: "a", Issuer: "https://x", Audience: "a", Kind: "robot"}}, "auth.oidc[0].kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := authn.NewOIDC(context.Background(), tt.issuers, nil, clocktest.New(time.Now()))
			if tt.wantErr == "" {
				if err != nil || o.Len() != len(tt.issuers) {
					t.Fatalf("got %v, %v", o, err)
				}
				return
			}
			if stint.ErrorCode(err) != stint.EINVALID || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want EINVALID containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestOIDC_Authenticate_concurrent(t *testing.T) {
	ctx := context.Background()
	e := newOIDCEnv(t)
	tokens := []string{e.iss.Token(ghClaims(nil))}
	e.iss.RotateKey()
	tokens = append(tokens, e.iss.Token(ghClaims(nil)), e.iss.Token(map[string]any{"sub": "a", "aud": "other"}))
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(tokens))
	for range 8 {
		for _, tok := range tokens {
			wg.Go(func() {
				if _, err := e.oidc.Authenticate(ctx, tok); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.iss.Requests(); n != 2 {
		t.Fatalf("got %d requests, want 2 (one discovery, one JWKS)", n)
	}
}
