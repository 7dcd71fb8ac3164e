package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/stint-io/stint"
)

// Token is one configured static token: who it stands for and the SHA-256
// of its secret (hex). The secret itself is never configured.
type Token struct {
	Subject string
	Kind    string // stint.KindWorkload or stint.KindHuman
	Groups  []string
	SHA256  string // hex, 64 characters, either case
}

// IssuerStatic is the Principal.Issuer of principals authenticated by a
// static token.
const IssuerStatic = "static"

// Static authenticates configured static bearer tokens. It is safe for
// concurrent use and immutable once built; a configuration reload builds a
// new one.
type Static struct {
	entries []staticEntry
	admins  []string
}

type staticEntry struct {
	hash [sha256.Size]byte
	tok  Token
}

var _ Authenticator = (*Static)(nil)

// NewStatic builds a Static from tokens and the admin references of the
// configuration ("group:NAME" or subjects). Returns EINVALID, naming the
// token by its position and subject (never its hash), if a token has no
// subject, an unknown kind or a malformed hash, or if two tokens share a
// hash.
func NewStatic(tokens []Token, admins []string) (*Static, error) {
	s := &Static{admins: append([]string(nil), admins...)}
	var errs stint.FieldErrors
	seen := make(map[[sha256.Size]byte]int)
	for i, t := range tokens {
		field := func(name string) string { return "auth.tokens[" + strconv.Itoa(i) + "]." + name }
		if strings.TrimSpace(t.Subject) == "" {
			errs.Add(field("subject"), "required")
		} else if strings.HasPrefix(t.Subject, ReservedWindowName+":") {
			errs.Add(field("subject"), "the prefix %q is reserved for the grants windows provision", ReservedWindowName+":")
		}
		switch t.Kind {
		case stint.KindWorkload, stint.KindHuman:
		default:
			errs.Add(field("kind"), "must be %q or %q, not %q", stint.KindWorkload, stint.KindHuman, t.Kind)
		}
		var e staticEntry
		b, err := hex.DecodeString(t.SHA256)
		if err != nil || len(b) != sha256.Size {
			errs.Add(field("sha256"), "must be 64 hexadecimal characters (the SHA-256 of the token)")
			continue
		}
		copy(e.hash[:], b)
		if j, ok := seen[e.hash]; ok {
			errs.Add(field("sha256"), "same token as auth.tokens[%d] (%s)", j, tokens[j].Subject)
			continue
		}
		seen[e.hash] = i
		e.tok = t
		e.tok.Groups = append([]string(nil), t.Groups...)
		s.entries = append(s.entries, e)
	}
	if err := errs.Err(); err != nil {
		return nil, &stint.Error{Code: stint.EINVALID, Message: err.Error()}
	}
	return s, nil
}

// Authenticate hashes bearer and compares the hash with every configured
// hash in constant time, going through all of them whatever matches, so
// that timing reveals neither whether nor which token matched. Returns
// EUNAUTHORIZED if no token matches.
func (s *Static) Authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	sum := sha256.Sum256([]byte(bearer))
	match := -1
	for i := range s.entries {
		eq := subtle.ConstantTimeCompare(sum[:], s.entries[i].hash[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 || bearer == "" {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "invalid token")
	}
	t := s.entries[match].tok
	p := &stint.Principal{
		Name:   t.Subject,
		Kind:   t.Kind,
		Issuer: IssuerStatic,
		Groups: append([]string(nil), t.Groups...),
	}
	p.Admin = IsAdmin(p, s.admins)
	return p, nil
}

// Len returns the number of configured tokens.
func (s *Static) Len() int { return len(s.entries) }
