package token

import (
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/stint-io/stint"
)

// Claims are the verified claims of a token.
type Claims struct {
	Jti       string // the grant id
	Issuer    string
	Subject   string // the principal
	Audience  string // the role's audience
	Scope     string // space-separated; empty if none
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	KeyID     string // the kid that signed it
}

// Verify checks a token as a resource server would, for RFC 7662
// introspection: the algorithm is ES256 (alg none, HS256 and the rest are
// refused), the kid is a published key and the signature verifies with it,
// iss is this server, jti, sub and exp are present, and the token is valid
// now by the factory's clock (nbf <= now < exp). It does not know about
// revocation: the caller looks the grant up by Claims.Jti. Returns
// EUNAUTHORIZED for any invalid token, with a message that never contains
// the token.
func (f *Factory) Verify(token string) (*Claims, error) {
	f.mu.Lock()
	ks, issuer, clock := f.keys, f.issuer, f.clock
	f.mu.Unlock()
	if ks == nil {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: no token resource is configured")
	}

	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, invalid("malformed token or algorithm not allowed", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, invalid("token has no key id", nil)
	}
	kid := tok.Headers[0].KeyID
	var key *jose.JSONWebKey
	for _, k := range ks.publicKeys() {
		if k.KeyID == kid {
			key = &k
			break
		}
	}
	if key == nil {
		return nil, invalid("token signed by an unknown key", nil)
	}
	var c tokenClaims
	if err := tok.Claims(key.Key, &c); err != nil {
		return nil, invalid("bad token signature", err)
	}

	switch {
	case c.Issuer != issuer:
		return nil, invalid("token from another issuer", nil)
	case c.ID == "" || c.Subject == "" || c.Expiry == nil || len(c.Audience) == 0:
		return nil, invalid("token lacks a required claim (jti, sub, aud, exp)", nil)
	}
	now := clock.Now()
	if !now.Before(c.Expiry.Time()) {
		return nil, invalid("token expired", nil)
	}
	if c.NotBefore != nil && now.Before(c.NotBefore.Time()) {
		return nil, invalid("token not valid yet", nil)
	}
	if c.IssuedAt != nil && now.Before(c.IssuedAt.Time()) {
		return nil, invalid("token issued in the future", nil)
	}

	out := &Claims{
		Jti:      c.ID,
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		Audience: c.Audience[0],
		Scope:    c.Scope,
		Expiry:   c.Expiry.Time().UTC(),
		KeyID:    kid,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time().UTC()
	}
	if c.NotBefore != nil {
		out.NotBefore = c.NotBefore.Time().UTC()
	}
	return out, nil
}

func invalid(msg string, cause error) error {
	return &stint.Error{Code: stint.EUNAUTHORIZED, Message: "invalid token: " + msg, Err: cause}
}
