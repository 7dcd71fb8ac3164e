package token_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	yaml "go.yaml.in/yaml/v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/token"
)

const issuer = "https://stint.example.com"

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
		Name: "internal-api",
		Decode: func(v any) error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
			dec.KnownFields(true)
			return dec.Decode(v)
		},
		DataDir: dataDir,
		URL:     issuer,
		Clock:   clock,
	}
}

// jsonSpec is yamlSpec for a loader that decodes through JSON.
func jsonSpec(dataDir string, clock stint.Clock, doc string) stint.ResourceSpec {
	s := yamlSpec(dataDir, clock, "")
	s.Decode = func(v any) error {
		dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
	return s
}

const defaultConfig = `
provider: token
key_rotation: 1d
roles:
  admin: { audience: internal-api, scopes: [admin, "read:all"] }
  plain: { audience: other-api }
`

// mustProvider builds a factory and a provider on dataDir.
func mustProvider(tb testing.TB, dataDir string, clock stint.Clock) (*token.Factory, stint.Provider) {
	tb.Helper()
	f := token.NewFactory()
	p, err := f.New(context.Background(), yamlSpec(dataDir, clock, defaultConfig))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return f, p
}

// newGrant returns a grant for internal-api/ROLE active from clock's now for ttl.
func newGrant(clock stint.Clock, role string, ttl time.Duration) *stint.Grant {
	now := clock.Now()
	return &stint.Grant{
		ID:          stint.NewID(now),
		Principal:   "svc/nightly-backup",
		Access:      "internal-api/" + role,
		ActivatedAt: stint.TimePtr(now),
		ExpiresAt:   stint.TimePtr(now.Add(ttl)),
	}
}

// rsClaims is what a resource server decodes.
type rsClaims struct {
	jwt.Claims
	Scope string `json:"scope"`
}

// verifyAsResourceServer verifies tok the way a resource server would: parse
// the JWKS document, pick the key by kid, verify ES256, validate the claims.
func verifyAsResourceServer(t *testing.T, jwksJSON []byte, tok, audience string, now time.Time) (*rsClaims, map[string]any, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwksJSON, &set); err != nil {
		t.Fatalf("JWKS is not valid JSON: %v", err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, nil, err
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, nil, errors.New("no single key with the token kid in the JWKS")
	}
	var c rsClaims
	raw := map[string]any{}
	if err := parsed.Claims(keys[0].Key, &c, &raw); err != nil {
		return nil, nil, err
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, 0)
	return &c, raw, err
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	return parsed.Headers[0].KeyID
}

func jwksKids(t *testing.T, f *token.Factory) []string {
	t.Helper()
	b, err := f.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS JSON: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func mustIssue(t *testing.T, p stint.Provider, g *stint.Grant) string {
	t.Helper()
	cred, err := p.Issue(context.Background(), g)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return cred.Env[token.EnvAccessToken]
}
