package authn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
)

func mustStatic(tb testing.TB, tokens []authn.Token, admins []string) *authn.Static {
	tb.Helper()
	s, err := authn.NewStatic(tokens, admins)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStatic_Authenticate(t *testing.T) {
	ctx := context.Background()
	s := mustStatic(t, []authn.Token{
		{Subject: "svc/backup", Kind: stint.KindWorkload, SHA256: authn.HashToken("backup-secret")},
		{Subject: "alice@example.com", Kind: stint.KindHuman, Groups: []string{"db-owners", "admins"},
			SHA256: strings.ToUpper(authn.HashToken("alice-secret"))},
		{Subject: "bob@example.com", Kind: stint.KindHuman, SHA256: authn.HashToken("bob-secret")},
	}, []string{"group:admins", "bob@example.com"})

	tests := []struct {
		name   string
		bearer string
		want   *stint.Principal
	}{
		{"Workload", "backup-secret", &stint.Principal{Name: "svc/backup", Kind: "workload", Issuer: "static"}},
		{"AdminByGroup", "alice-secret", &stint.Principal{Name: "alice@example.com", Kind: "human", Issuer: "static",
			Groups: []string{"db-owners", "admins"}, Admin: true}},
		{"AdminBySubject", "bob-secret", &stint.Principal{Name: "bob@example.com", Kind: "human", Issuer: "static", Admin: true}},
		{"Unknown", "nope", nil},
		{"Empty", "", nil},
		{"PrefixOfValid", "backup-secre", nil},
		{"HashItself", authn.HashToken("backup-secret"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.Authenticate(ctx, tt.bearer)
			if tt.want == nil {
				if stint.ErrorCode(err) != stint.EUNAUTHORIZED || p != nil {
					t.Fatalf("got %+v, %v; want EUNAUTHORIZED", p, err)
				}
				if tt.bearer != "" && strings.Contains(err.Error(), tt.bearer) {
					t.Fatalf("error %q contains the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want.Name || p.Kind != tt.want.Kind || p.Issuer != tt.want.Issuer ||
				p.Admin != tt.want.Admin || strings.Join(p.Groups, ",") != strings.Join(tt.want.Groups, ",") {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
		})
	}

	t.Run("PrincipalIsACopy", func(t *testing.T) {
		p, _ := s.Authenticate(ctx, "alice-secret")
		p.Groups[0] = "changed"
		q, _ := s.Authenticate(ctx, "alice-secret")
		if q.Groups[0] != "db-owners" {
			t.Fatalf("groups shared between principals: %v", q.Groups)
		}
	})
}

func TestNewStatic(t *testing.T) {
	h := authn.HashToken("x")
	tests := []struct {
		name    string
		tokens  []authn.Token
		wantErr string // substring; "" for success
	}{
		{"Empty", nil, ""},
		{"Valid", []authn.Token{{Subject: "a", Kind: "workload", SHA256: h}}, ""},
		{"NoSubject", []authn.Token{{Kind: "workload", SHA256: h}}, "auth.tokens[0].subject: required"},
		{"BadKind", []authn.Token{{Subject: "a", Kind: "robot", SHA256: h}}, "auth.tokens[0].kind"},
		{"ShortHash", []authn.Token{{Subject: "a", Kind: "human", SHA256: "9f86d081884c7d65"}}, "auth.tokens[0].sha256: must be 64"},
		{"NotHex", []authn.Token{{Subject: "a", Kind: "human", SHA256: strings.Repeat("z", 64)}}, "auth.tokens[0].sha256"},
		{"Duplicate", []authn.Token{
			{Subject: "a", Kind: "human", SHA256: h},
			{Subject: "b", Kind: "human", SHA256: h},
		}, "auth.tokens[1].sha256: same token as auth.tokens[0] (a)"},
		{"AllErrorsListed", []authn.Token{{Kind: "x", SHA256: "y"}}, "subject: required; auth.tokens[0].kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authn.NewStatic(tt.tokens, nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if stint.ErrorCode(err) != stint.EINVALID || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want EINVALID containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), h) {
				t.Fatalf("error %q contains a hash", err)
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	// The example of CONTRACT.md: sha256("test").
	if got := authn.HashToken("test"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Fatalf("HashToken(test) = %s", got)
	}
}

func TestNewToken(t *testing.T) {
	a, err := authn.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := authn.NewToken()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	if !strings.HasPrefix(a, authn.TokenPrefix) || len(a) != len(authn.TokenPrefix)+43 {
		t.Fatalf("token %q: want prefix %q and 43 characters", a, authn.TokenPrefix)
	}
	if strings.ContainsAny(a, "+/=") {
		t.Fatalf("token %q is not base64url without padding", a)
	}
	s := mustStatic(t, []authn.Token{{Subject: "a", Kind: "workload", SHA256: authn.HashToken(a)}}, nil)
	if _, err := s.Authenticate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStatic_Authenticate(b *testing.B) {
	var tokens []authn.Token
	for i := range 100 {
		tokens = append(tokens, authn.Token{Subject: "s" + string(rune('a'+i%26)), Kind: "workload",
			SHA256: authn.HashToken(strings.Repeat("x", i+1))})
	}
	s := mustStatic(b, tokens, nil)
	ctx := context.Background()
	for b.Loop() {
		_, _ = s.Authenticate(ctx, "xxxxx")
	}
}
