// Package authn turns a bearer token into a stint.Principal. Static tokens
// (configured as SHA-256 hashes) are implemented here; other schemes (OIDC
// workload identity) implement the same Authenticator interface and are
// combined with a Chain.
package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/stint-io/stint"
)

// Authenticator authenticates a bearer token.
type Authenticator interface {
	// Authenticate returns the principal the bearer token stands for.
	// Returns EUNAUTHORIZED for any problem with the token; an
	// implementation that depends on a remote service (an OIDC issuer's
	// keys) may return EUNAVAILABLE when that service cannot be reached.
	// Errors never contain the token.
	Authenticate(ctx context.Context, bearer string) (*stint.Principal, error)
}

// TokenPrefix starts every token made by NewToken, so that a leaked Stint
// token is easy to recognise (secret scanners, logs).
const TokenPrefix = "stint_"

// HashToken returns the lowercase hex SHA-256 of token: the form in which
// static tokens are configured (auth.tokens[].sha256).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a new random token: TokenPrefix followed by 32 random
// bytes in unpadded base64url (49 characters in all).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", &stint.Error{Code: stint.EINTERNAL, Message: "cannot generate token", Err: err}
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// IsAdmin reports whether p is named by any of admins, each "group:NAME"
// or a subject. Authenticators use it to set Principal.Admin.
func IsAdmin(p *stint.Principal, admins []string) bool {
	for _, ref := range admins {
		if p.Matches(ref) {
			return true
		}
	}
	return false
}

// Chain tries each authenticator in order and returns the first principal.
// An empty Chain authenticates no one.
type Chain []Authenticator

// Authenticate returns the principal of the first authenticator that
// accepts bearer. If none does, it returns EUNAVAILABLE when some
// authenticator could not decide because a dependency failed, and
// EUNAUTHORIZED otherwise. The answer is never a principal from a failed
// authenticator (fail closed).
func (c Chain) Authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	var unavailable, last error
	for _, a := range c {
		p, err := a.Authenticate(ctx, bearer)
		if err == nil && p != nil {
			return p, nil
		}
		if err == nil {
			continue
		}
		last = err
		if stint.ErrorCode(err) == stint.EUNAVAILABLE && unavailable == nil {
			unavailable = err
		}
	}
	if unavailable != nil {
		return nil, unavailable
	}
	if last != nil && stint.ErrorCode(last) == stint.EUNAUTHORIZED {
		return nil, last
	}
	return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token")
}
