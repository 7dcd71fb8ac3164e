package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint"
)

// OIDCIssuer is a small OIDC issuer for tests: an httptest server on
// 127.0.0.1 serving /.well-known/openid-configuration and its JWKS at
// /jwks, signing RS256 tokens with a key generated at start. It is safe
// for concurrent use.
type OIDCIssuer struct {
	srv      *httptest.Server
	requests atomic.Int64
	down     atomic.Bool

	mu    sync.Mutex
	clock stint.Clock
	key   *rsa.PrivateKey
	kid   string
	keys  []jose.JSONWebKey // published: the current key and the previous one
}

// StartOIDC starts an issuer, stopped when tb ends.
func StartOIDC(tb testing.TB) *OIDCIssuer {
	tb.Helper()
	o := &OIDCIssuer{clock: stint.SystemClock}
	o.RotateKey()
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve)) // on 127.0.0.1
	tb.Cleanup(o.srv.Close)
	return o
}

// Issuer returns the issuer URL, http://127.0.0.1:PORT (no trailing slash).
func (o *OIDCIssuer) Issuer() string { return o.srv.URL }

// SetClock sets the clock that default iat and exp are read from (the
// system clock by default).
func (o *OIDCIssuer) SetClock(c stint.Clock) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clock = c
}

// KeyID returns the key ID of the current signing key.
func (o *OIDCIssuer) KeyID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.kid
}

// RotateKey generates a new signing key with a new key ID. The JWKS
// publishes the new key and the previous one.
func (o *OIDCIssuer) RotateKey() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("testenv: generate RSA key: " + err.Error())
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	kid := hex.EncodeToString(b[:])
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.key, o.kid = key, kid
	o.keys = append([]jose.JSONWebKey{pub}, o.keys...)
	if len(o.keys) > 2 {
		o.keys = o.keys[:2]
	}
}

// SetDown makes every endpoint answer 503 (down) or serve again.
func (o *OIDCIssuer) SetDown(down bool) { o.down.Store(down) }

// Requests returns the number of HTTP requests served so far (discovery
// and JWKS, including 503 answers).
func (o *OIDCIssuer) Requests() int64 { return o.requests.Load() }

// Token returns an RS256 ID token signed by the current key with claims.
// It sets iss to Issuer(), iat to now and exp to now + 10 minutes unless
// claims has them; a claim set to nil is left out.
func (o *OIDCIssuer) Token(claims map[string]any) string {
	o.mu.Lock()
	key, kid, now := o.key, o.kid, o.clock.Now()
	o.mu.Unlock()
	c := map[string]any{
		"iss": o.Issuer(),
		"iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		panic("testenv: marshal claims: " + err.Error())
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		panic("testenv: signer: " + err.Error())
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic("testenv: sign: " + err.Error())
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		panic("testenv: serialize: " + err.Error())
	}
	return tok
}

func (o *OIDCIssuer) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	if o.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var doc any
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		doc = map[string]any{
			"issuer":                                o.Issuer(),
			"jwks_uri":                              o.Issuer() + "/jwks",
			"authorization_endpoint":                o.Issuer() + "/authorize",
			"token_endpoint":                        o.Issuer() + "/token",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		}
	case "/jwks":
		o.mu.Lock()
		doc = jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), o.keys...)}
		o.mu.Unlock()
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}
