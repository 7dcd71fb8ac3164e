package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint"
)

// OIDC timing. Fetches (discovery, JWKS) are bounded by fetchTimeout; a
// failed fetch is not retried, and a fetch for an unknown key ID is not
// repeated, within retryInterval; cached keys are re-fetched on the first
// use after keyMaxAge so that keys an issuer withdrew stop verifying.
const (
	fetchTimeout  = 10 * time.Second
	retryInterval = 10 * time.Second
	keyMaxAge     = time.Hour
	maxDocSize    = 1 << 20
	maxBearerSize = 16 << 10
)

// signingAlgs are the only JWS algorithms accepted: no "none", no HMAC.
var (
	signingAlgs     = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
	signingAlgNames = []string{string(jose.RS256), string(jose.ES256)}
)

// unavailableKey carries a *error slot through go-oidc's Verify into
// keySet.VerifySignature, which records there that the issuer's keys could
// not be fetched (go-oidc flattens the error into a string).
type unavailableKey struct{}

// keySet is an oidc.KeySet over an issuer's JWKS URL. Unlike go-oidc's
// RemoteKeySet it reads the injected clock, tells "keys unavailable" from
// "bad signature", and re-fetches for an unknown key ID at most once per
// retryInterval, never for a bad signature under a known key ID, so forged
// tokens cannot make Stint hammer the issuer.
type keySet struct {
	url    string
	client *http.Client
	clock  stint.Clock
	logger *slog.Logger

	fetchMu sync.Mutex // serialises fetches

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt
	lastErr   error     // of the last attempt
}

// VerifySignature implements oidc.KeySet. Returns EUNAUTHORIZED for a
// signature no key verifies and EUNAVAILABLE (also recorded in the
// context's unavailableKey slot) when the keys cannot be fetched.
func (ks *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, signingAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: malformed signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	now := ks.clock.Now()
	ks.mu.Lock()
	keys, fresh := ks.keys, !ks.fetchedAt.IsZero() && now.Sub(ks.fetchedAt) < keyMaxAge
	ks.mu.Unlock()
	if fresh {
		payload, known := verifyWith(keys, kid, jws)
		if payload != nil {
			return payload, nil
		}
		if known {
			return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: bad signature")
		}
	}
	keys, err = ks.refresh(ctx)
	if payload, _ := verifyWith(keys, kid, jws); payload != nil {
		return payload, nil
	}
	if err != nil {
		if slot, ok := ctx.Value(unavailableKey{}).(*error); ok {
			*slot = err
		}
		return nil, err
	}
	return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: bad signature")
}

// verifyWith verifies jws with the keys of ID kid (all keys if kid is
// empty). known reports whether some key has that ID.
func verifyWith(keys []jose.JSONWebKey, kid string, jws *jose.JSONWebSignature) (payload []byte, known bool) {
	for i := range keys {
		k := &keys[i]
		if kid != "" && k.KeyID != kid {
			continue
		}
		known = kid != ""
		if p, err := jws.Verify(k); err == nil {
			return p, known
		}
	}
	return nil, known
}

// refresh fetches the keys unless a fetch was tried within retryInterval,
// and returns the keys to verify with (the last good ones if the fetch
// failed) and, if the last fetch failed, an EUNAVAILABLE error.
func (ks *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	ks.fetchMu.Lock()
	defer ks.fetchMu.Unlock()
	now := ks.clock.Now()
	ks.mu.Lock()
	keys, tried, lastErr := ks.keys, ks.triedAt, ks.lastErr
	ks.mu.Unlock()
	if !tried.IsZero() && now.Sub(tried) < retryInterval {
		return keys, lastErr
	}
	fetched, err := ks.fetch(ctx)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.triedAt = now
	if err != nil {
		ks.logger.Warn("cannot fetch OIDC issuer keys", "url", ks.url, "err", err)
		ks.lastErr = &stint.Error{Code: stint.EUNAVAILABLE, Message: "OIDC issuer keys unavailable", Err: err}
		return ks.keys, ks.lastErr
	}
	ks.keys, ks.fetchedAt, ks.lastErr = fetched, now, nil
	return fetched, nil
}

// fetch downloads the JWKS and keeps its RSA and ECDSA public signing keys.
func (ks *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	body, err := getDoc(ctx, ks.client, ks.url)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue // an unsupported key type must not hide the others
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS has no RSA or ECDSA signing keys")
	}
	return keys, nil
}

// getDoc GETs a JSON document of at most maxDocSize bytes.
func getDoc(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocSize+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if len(body) > maxDocSize {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxDocSize)
	}
	return body, nil
}
