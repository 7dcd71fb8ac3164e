package authn_test

import (
	"context"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
)

type authFunc func(ctx context.Context, bearer string) (*stint.Principal, error)

func (f authFunc) Authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	return f(ctx, bearer)
}

func TestChain_Authenticate(t *testing.T) {
	ctx := context.Background()
	static := mustStatic(t, []authn.Token{{Subject: "svc/a", Kind: "workload", SHA256: authn.HashToken("a")}}, nil)
	down := authFunc(func(context.Context, string) (*stint.Principal, error) {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "issuer keys unavailable")
	})
	expired := authFunc(func(context.Context, string) (*stint.Principal, error) {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "token expired")
	})
	broken := authFunc(func(context.Context, string) (*stint.Principal, error) {
		return &stint.Principal{Name: "nobody"}, stint.Errorf(stint.EINTERNAL, "bug")
	})
	nilNil := authFunc(func(context.Context, string) (*stint.Principal, error) { return nil, nil })

	tests := []struct {
		name     string
		chain    authn.Chain
		bearer   string
		wantName string
		wantCode string
		wantMsg  string
	}{
		{"Empty", nil, "a", "", stint.EUNAUTHORIZED, "invalid token"},
		{"First", authn.Chain{static, down}, "a", "svc/a", "", ""},
		{"Second", authn.Chain{down, static}, "a", "svc/a", "", ""},
		{"NoneUnavailable", authn.Chain{static, down}, "b", "", stint.EUNAVAILABLE, "issuer keys unavailable"},
		{"LastMessageKept", authn.Chain{static, expired}, "b", "", stint.EUNAUTHORIZED, "token expired"},
		{"InternalBecomesUnauthorized", authn.Chain{broken}, "b", "", stint.EUNAUTHORIZED, "invalid token"},
		{"NilPrincipalIsNotAuthenticated", authn.Chain{nilNil}, "b", "", stint.EUNAUTHORIZED, "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.chain.Authenticate(ctx, tt.bearer)
			if tt.wantCode == "" {
				if err != nil || p.Name != tt.wantName {
					t.Fatalf("got %+v, %v; want %s", p, err, tt.wantName)
				}
				return
			}
			if p != nil || stint.ErrorCode(err) != tt.wantCode || stint.ErrorMessage(err) != tt.wantMsg {
				t.Fatalf("got %+v, %v; want %s %q", p, err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestIsAdmin(t *testing.T) {
	p := &stint.Principal{Name: "alice", Groups: []string{"ops"}}
	for _, tt := range []struct {
		admins []string
		want   bool
	}{
		{nil, false},
		{[]string{"group:admins"}, false},
		{[]string{"group:ops"}, true},
		{[]string{"bob", "alice"}, true},
		{[]string{"group:alice"}, false},
	} {
		if got := authn.IsAdmin(p, tt.admins); got != tt.want {
			t.Errorf("IsAdmin(%v) = %v, want %v", tt.admins, got, tt.want)
		}
	}
}
