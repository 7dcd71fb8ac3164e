package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// OIDCIssuer is one trusted OIDC issuer (auth.oidc[] of the configuration).
type OIDCIssuer struct {
	Name     string // the Principal.Issuer of its principals
	Issuer   string // the exact `iss` of its tokens; https, or http on loopback
	Audience string // must be among a token's `aud`
	Kind     string // stint.KindWorkload (default) or stint.KindHuman
	// Subject maps the claims to Principal.Name; nil means
	// policy.DefaultSubject (name + ":" + claims.sub).
	Subject *policy.Subject
}

// iatLeeway is how far in the future a token's iat (and, in go-oidc, its
// nbf) may be, for clock skew between the issuer and Stint.
const iatLeeway = 5 * time.Minute

// OIDC authenticates OIDC ID tokens (JWTs) of trusted issuers: workload
// identity federation. Each issuer is discovered lazily on its first token,
// so a down issuer never blocks start-up; its keys are cached. OIDC is safe
// for concurrent use; a configuration reload builds a new one.
type OIDC struct {
	// Logger receives fetch failures; set it, if at all, before first use.
	Logger *slog.Logger

	issuers map[string][]*oidcIssuer // by Issuer
	admins  []string
	clock   stint.Clock
	client  *http.Client
}

var _ Authenticator = (*OIDC)(nil)

// oidcIssuer is one configured issuer; entries with the same issuer URL
// share a remote.
type oidcIssuer struct {
	cfg    OIDCIssuer
	o      *OIDC
	remote *remote
}

// remote is the discovered state of one issuer URL.
type remote struct {
	url string
	o   *OIDC

	mu      sync.Mutex // guards the rest and serialises discovery
	keys    *keySet
	triedAt time.Time
	lastErr error
}

// NewOIDC builds an OIDC for issuers; admins are the "group:NAME" or
// subject references of auth.admins; a nil clock is stint.SystemClock.
// It contacts no issuer (ctx is not kept; discovery is lazy). Returns
// EINVALID if an issuer lacks a name, issuer URL (https, or http on a
// loopback host) or audience, has an unknown kind, or if two share a name.
func NewOIDC(ctx context.Context, issuers []OIDCIssuer, admins []string, clock stint.Clock) (*OIDC, error) {
	if clock == nil {
		clock = stint.SystemClock
	}
	o := &OIDC{
		Logger:  slog.Default(),
		issuers: make(map[string][]*oidcIssuer),
		admins:  append([]string(nil), admins...),
		clock:   clock,
		client:  &http.Client{Timeout: fetchTimeout},
	}
	var errs stint.FieldErrors
	names := make(map[string]bool)
	pairs := make(map[string]bool)
	for i, c := range issuers {
		field := func(name string) string { return "auth.oidc[" + strconv.Itoa(i) + "]." + name }
		switch {
		case c.Name == "":
			errs.Add(field("name"), "required")
		case names[c.Name]:
			errs.Add(field("name"), "duplicate name %q", c.Name)
		case c.Name == ReservedWindowName:
			errs.Add(field("name"), "%q is reserved for the grants windows provision", c.Name)
		}
		names[c.Name] = true
		// Two entries accepting the same tokens would let a token refused by
		// one (its subject expression failed) be taken by the other.
		if pair := c.Issuer + "\x00" + c.Audience; pairs[pair] {
			errs.Add(field("audience"), "another entry has the same issuer and audience")
		} else {
			pairs[pair] = true
		}
		if !secureURL(c.Issuer) {
			errs.Add(field("issuer"), "must be an https URL")
		}
		if c.Audience == "" {
			errs.Add(field("audience"), "required")
		}
		switch c.Kind {
		case "":
			c.Kind = stint.KindWorkload
		case stint.KindWorkload, stint.KindHuman:
		default:
			errs.Add(field("kind"), "must be %q or %q, not %q", stint.KindWorkload, stint.KindHuman, c.Kind)
		}
		if c.Subject == nil {
			s, err := policy.CompileSubject("")
			if err != nil {
				return nil, err
			}
			c.Subject = s
		}
		var r *remote
		if same := o.issuers[c.Issuer]; len(same) > 0 {
			r = same[0].remote
		} else {
			r = &remote{url: c.Issuer, o: o}
		}
		o.issuers[c.Issuer] = append(o.issuers[c.Issuer], &oidcIssuer{cfg: c, o: o, remote: r})
	}
	if err := errs.Err(); err != nil {
		return nil, &stint.Error{Code: stint.EINVALID, Message: err.Error()}
	}
	return o, nil
}

// Len returns the number of configured issuers.
func (o *OIDC) Len() int {
	n := 0
	for _, is := range o.issuers {
		n += len(is)
	}
	return n
}

// Authenticate verifies bearer as an ID token of a configured issuer: its
// signature (RS256 or ES256) by the issuer's keys, `aud` containing the
// issuer's audience, `exp`, `nbf` and `iat` against the clock. The
// principal is named by the issuer's subject expression, has the issuer's
// kind and name, all claims, the `groups` claim as groups if it is a list
// of strings, and Admin per the admin references.
//
// Returns EUNAUTHORIZED, without any network traffic, for a bearer that is
// not a JWT or names no configured issuer; EUNAUTHORIZED for a token that
// fails verification or whose subject expression fails; EUNAVAILABLE when
// the issuer's discovery document or keys cannot be fetched (retried at
// most every 10 s). Errors never contain the token.
func (o *OIDC) Authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	iss, ok := unverifiedIssuer(bearer)
	if !ok {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token")
	}
	candidates := o.issuers[iss]
	if len(candidates) == 0 {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: unknown issuer")
	}
	var first error
	for _, is := range candidates {
		p, err := is.authenticate(ctx, bearer)
		if err == nil {
			return p, nil
		}
		if first == nil || stint.ErrorCode(err) == stint.EUNAVAILABLE && stint.ErrorCode(first) != stint.EUNAVAILABLE {
			first = err
		}
	}
	return nil, first
}

func (is *oidcIssuer) authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	ks, err := is.remote.keySet(ctx)
	if err != nil {
		return nil, err
	}
	v := oidc.NewVerifier(is.cfg.Issuer, ks, &oidc.Config{
		ClientID:             is.cfg.Audience,
		SupportedSigningAlgs: signingAlgNames,
		Now:                  is.o.clock.Now,
	})
	var unavailable error
	tok, err := v.Verify(context.WithValue(ctx, unavailableKey{}, &unavailable), bearer)
	if err != nil {
		if unavailable != nil {
			return nil, unavailable
		}
		return nil, verifyError(err, bearer)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: malformed claims")
	}
	if iat, ok := claims["iat"].(float64); ok && time.Unix(int64(iat), 0).After(is.o.clock.Now().Add(iatLeeway)) {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: issued in the future")
	}
	name, err := is.cfg.Subject.Eval(is.cfg.Name, claims)
	if err != nil {
		return nil, err
	}
	// Names from tokens live in their issuer's namespace ("github:..."), so
	// that claims can never produce a static subject (an admin, an approver)
	// or another issuer's name.
	if !strings.HasPrefix(name, is.cfg.Name+":") || len(name) == len(is.cfg.Name)+1 {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token: the subject of issuer %s must start with %q", is.cfg.Name, is.cfg.Name+":")
	}
	// Groups are not taken from claims: a token's issuer could otherwise
	// grant membership in Stint's own groups (group:admins). Policies read
	// claims through principal.claims.
	p := &stint.Principal{
		Name:   name,
		Kind:   is.cfg.Kind,
		Issuer: is.cfg.Name,
		Claims: claims,
	}
	p.Admin = IsAdmin(p, is.o.admins)
	return p, nil
}

// verifyError turns a go-oidc verification error into EUNAUTHORIZED with
// a short reason; the detail is kept as the internal cause.
func verifyError(err error, bearer string) error {
	var se *stint.Error
	if errors.As(err, &se) {
		return se
	}
	msg := "invalid token"
	var expired *oidc.TokenExpiredError
	s := err.Error()
	switch {
	case errors.As(err, &expired):
		msg = "token expired"
	case strings.Contains(s, "audience"):
		msg = "invalid token: wrong audience"
	case strings.Contains(s, "nbf"):
		msg = "invalid token: not valid yet"
	case strings.Contains(s, "different provider"):
		msg = "invalid token: wrong issuer"
	case strings.Contains(s, "algorithm"):
		msg = "invalid token: unsupported algorithm"
	case strings.Contains(s, "signature"):
		msg = "invalid token: bad signature"
	}
	if bearer != "" {
		s = strings.ReplaceAll(s, bearer, "[token]")
	}
	return &stint.Error{Code: stint.EUNAUTHORIZED, Message: msg, Err: errors.New(s)}
}

// keySet discovers the issuer on first use, at most once per
// retryInterval, and returns its keys; returns EUNAVAILABLE while
// discovery fails.
func (r *remote) keySet(ctx context.Context) (*keySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys != nil {
		return r.keys, nil
	}
	now := r.o.clock.Now()
	if !r.triedAt.IsZero() && now.Sub(r.triedAt) < retryInterval {
		return nil, r.lastErr
	}
	r.triedAt = now
	jwksURL, err := r.discover(ctx)
	if err != nil {
		r.o.Logger.Warn("cannot discover OIDC issuer", "url", r.url, "err", err)
		r.lastErr = &stint.Error{Code: stint.EUNAVAILABLE, Message: "OIDC issuer " + r.url + " unavailable", Err: err}
		return nil, r.lastErr
	}
	r.keys = &keySet{url: jwksURL, client: r.o.client, clock: r.o.clock, logger: r.o.Logger}
	r.lastErr = nil
	return r.keys, nil
}

// discover fetches the discovery document (go-oidc checks that its issuer
// is r.url) and returns its jwks_uri.
func (r *remote) discover(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, r.o.client), r.url)
	if err != nil {
		return "", err
	}
	var doc struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return "", err
	}
	if !secureURL(doc.JWKSURL) {
		return "", errors.New("discovery document: jwks_uri must be an https URL")
	}
	return doc.JWKSURL, nil
}

// unverifiedIssuer reports whether bearer looks like a JWS in compact
// form (three base64url parts, the last non-empty) and returns the `iss`
// of its payload, unverified: it only picks the issuer to verify against.
func unverifiedIssuer(bearer string) (string, bool) {
	if len(bearer) > maxBearerSize || strings.Count(bearer, ".") != 2 {
		return "", false
	}
	parts := strings.Split(bearer, ".")
	for _, p := range parts {
		if p == "" || strings.IndexFunc(p, notBase64URL) >= 0 {
			return "", false
		}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss == "" {
		return "", false
	}
	return c.Iss, true
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// secureURL reports whether s is an https URL, or an http URL of a
// loopback host (tests, a local issuer).
func secureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// ReservedWindowName is the issuer name reserved for the principals of the
// grants that windows provision ("window:POLICY").
const ReservedWindowName = "window"
