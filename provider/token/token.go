// Package token is the provider of Stint-signed JWTs (provider: token).
//
// A grant's credential is an ES256 JWT in STINT_ACCESS_TOKEN with the claims
// iss (the server URL), sub (the principal), aud (the role's audience),
// scope (the role's scopes, space-separated; omitted when there are none),
// iat, nbf (the grant's activation), exp (the grant's expiry) and jti (the
// grant id). Resource servers verify it with the keys the server publishes
// at /.well-known/jwks.json (Factory.JWKS).
//
// Configuration of a resource:
//
//	internal-api:
//	  provider: token
//	  key_rotation: 30d          # optional, default 30d, at least 1h
//	  roles:
//	    admin: { audience: internal-api, scopes: [admin] }
//
// All token resources of a server share one KeySet, kept in
// DATA_DIR/token-keys/; the shortest key_rotation among them applies.
//
// A JWT cannot be recalled: the provider is expiry-only and Revoke does
// nothing. It does not implement stint.Renewer, since a token's exp cannot
// change; the introspection endpoint reports a revoked grant's token as
// inactive by looking the grant up by jti.
package token

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/stint-io/stint"
)

// Type is the provider type, as written in `provider:`.
const Type = "token"

// EnvAccessToken is the credential's environment variable.
const EnvAccessToken = "STINT_ACCESS_TOKEN"

// KeyDir is the directory under the server's data directory that holds the keys.
const KeyDir = "token-keys"

// Config is the configuration of one token resource.
type Config struct {
	Provider string `yaml:"provider" json:"provider"`
	// KeyRotation is a duration ("30d"); empty means DefaultKeyRotation.
	KeyRotation string                `yaml:"key_rotation" json:"key_rotation"`
	Roles       map[string]RoleConfig `yaml:"roles" json:"roles"`
}

// RoleConfig is the configuration of one role.
type RoleConfig struct {
	Audience string   `yaml:"audience" json:"audience"`
	Scopes   []string `yaml:"scopes" json:"scopes"`
}

// Factory builds token providers. It owns the KeySet shared by every token
// resource of the server, created at the first New from its ResourceSpec
// (DataDir, Clock, URL as issuer). It is safe for concurrent use.
type Factory struct {
	mu     sync.Mutex
	keys   *KeySet
	issuer string
	clock  stint.Clock
}

var _ stint.ProviderFactory = (*Factory)(nil)

// NewFactory returns a token provider factory.
func NewFactory() *Factory { return &Factory{} }

// Type returns "token".
func (f *Factory) Type() string { return Type }

// Validate checks a token resource's configuration without side effects.
// It returns the decoding error as is (it already names file, line and
// field), or stint.FieldErrors with paths relative to the resource.
func (f *Factory) Validate(spec stint.ResourceSpec) error {
	_, err := parseConfig(spec)
	return err
}

type role struct {
	audience string
	scope    string
}

type config struct {
	rotation time.Duration
	roles    map[string]role
}

func parseConfig(spec stint.ResourceSpec) (*config, error) {
	var c Config
	if spec.Decode == nil {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: no configuration", spec.Name)
	}
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	out := &config{rotation: DefaultKeyRotation, roles: map[string]role{}}
	var errs stint.FieldErrors
	if c.KeyRotation != "" {
		d, err := stint.ParseDuration(c.KeyRotation)
		switch {
		case err != nil:
			errs.Add("key_rotation", "%v", err)
		case d < MinKeyRotation:
			errs.Add("key_rotation", "must be at least %s", stint.FormatDuration(MinKeyRotation))
		default:
			out.rotation = d
		}
	}
	if len(c.Roles) == 0 {
		errs.Add("roles", "at least one role is required")
	}
	for name, r := range c.Roles {
		field := "roles." + name
		if strings.TrimSpace(r.Audience) == "" {
			errs.Add(field+".audience", "is required")
		}
		for i, s := range r.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
				errs.Add(field+".scopes", "scope %d: must be non-empty, without spaces, quotes or backslashes", i)
			}
		}
		out.roles[name] = role{audience: r.Audience, scope: strings.Join(r.Scopes, " ")}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// New builds the provider of one token resource. The first call opens the
// shared KeySet in spec.DataDir/token-keys and fixes the issuer (spec.URL)
// and clock used by JWKS and Verify. Returns the Validate errors, EINVALID
// if spec has no URL or DataDir, or EINTERNAL if the keys cannot be opened.
func (f *Factory) New(ctx context.Context, spec stint.ResourceSpec) (stint.Provider, error) {
	c, err := parseConfig(spec)
	if err != nil {
		return nil, err
	}
	if spec.URL == "" {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: the token provider needs server.url (the token issuer)", spec.Name)
	}
	if spec.DataDir == "" {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: the token provider needs a data directory for its keys", spec.Name)
	}
	clock := spec.Clock
	if clock == nil {
		clock = stint.SystemClock
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		ks, err := OpenKeySet(filepath.Join(spec.DataDir, KeyDir), c.rotation, clock, spec.Logger)
		if err != nil {
			return nil, err
		}
		f.keys, f.issuer, f.clock = ks, spec.URL, clock
	}
	f.keys.shortenRotation(c.rotation)
	return &Provider{resource: spec.Name, issuer: f.issuer, roles: c.roles, keys: f.keys, clock: f.clock}, nil
}

// KeySet returns the shared key set, or nil before the first New.
func (f *Factory) KeySet() *KeySet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys
}

// JWKS returns the JSON Web Key Set {"keys": [...]} served at
// /.well-known/jwks.json: every published public key with kid, alg ES256 and
// use sig. Before any token resource is built it is {"keys":[]}. Returns
// EINTERNAL if a due key rotation fails.
func (f *Factory) JWKS() ([]byte, error) {
	ks := f.KeySet()
	if ks == nil {
		return []byte(`{"keys":[]}`), nil
	}
	return ks.JWKS()
}

// Provider issues tokens for one resource.
type Provider struct {
	resource string
	issuer   string
	roles    map[string]role
	keys     *KeySet
	clock    stint.Clock
}

var (
	_ stint.Provider        = (*Provider)(nil)
	_ stint.RevocationModer = (*Provider)(nil)
)

// tokenClaims is the JWT payload.
type tokenClaims struct {
	jwt.Claims
	Scope string `json:"scope,omitempty"`
}

// Issue signs a token for g valid from g's activation (now if unset) until
// *g.ExpiresAt. Issuing again returns a new token with the same jti. It sets
// g.ProviderData["kid"]. Returns a permanent EINVALID for an unknown role, a
// grant without expiry or an expiry already past, and EINTERNAL if signing
// fails.
func (p *Provider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	r, ok := p.roles[g.Role()]
	if !ok {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "resource %s has no role %q", p.resource, g.Role()))
	}
	if g.ExpiresAt == nil {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has no expiry", g.ID))
	}
	now := p.clock.Now()
	exp := *g.ExpiresAt
	if !exp.After(now) {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has already expired", g.ID))
	}
	nbf := now
	if g.ActivatedAt != nil {
		nbf = *g.ActivatedAt
	}

	k, err := p.keys.signer(exp)
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot get a token signing key", Err: err}
	}
	sig, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot sign the token", Err: err}
	}
	claims := tokenClaims{
		Claims: jwt.Claims{
			Issuer:    p.issuer,
			Subject:   g.Principal,
			Audience:  jwt.Audience{r.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(nbf),
			Expiry:    jwt.NewNumericDate(exp),
			ID:        g.ID,
		},
		Scope: r.scope,
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot sign the token", Err: err}
	}
	if g.ProviderData == nil {
		g.ProviderData = map[string]string{}
	}
	g.ProviderData["kid"] = k.kid
	return &stint.Credential{
		GrantID:   g.ID,
		ExpiresAt: exp,
		Env:       map[string]string{EnvAccessToken: tok},
	}, nil
}

// Revoke does nothing and returns nil: a signed JWT cannot be recalled and
// lapses at its exp. Introspection reports it inactive once its grant ends.
func (p *Provider) Revoke(ctx context.Context, g *stint.Grant) error { return nil }

// RevocationMode returns stint.RevocationExpiryOnly.
func (p *Provider) RevocationMode() string { return stint.RevocationExpiryOnly }
