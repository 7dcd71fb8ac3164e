package authn_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/policy"
	"github.com/stint-io/stint/internal/testenv"
)

// A workload issuer's token carrying groups:["admins"] is an admin.
func TestReview4_WorkloadAdminViaGroupsClaim(t *testing.T) {
	e := newOIDCEnv(t) // github: kind workload; admins: [group:admins]
	tok := e.iss.Token(ghClaims(map[string]any{"groups": []string{"admins"}}))
	p, err := e.oidc.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Admin {
		t.Fatalf("workload %q (issuer %s, kind %s) is Admin through its groups claim", p.Name, p.Issuer, p.Kind)
	}
}

// These come from a review; each failed before the fix.

// An OIDC principal must not be named like a static admin subject.
func TestReview4_NameCollisionWithStaticAdmin(t *testing.T) {
	iss := testenv.StartOIDC(t)
	clock := clocktest.New(time.Now().Truncate(time.Second))
	iss.SetClock(clock)
	subj, _ := policy.CompileSubject(`claims.email`)
	o, err := authn.NewOIDC(context.Background(), []authn.OIDCIssuer{
		{Name: "ci", Issuer: iss.Issuer(), Audience: "stint", Subject: subj},
	}, []string{"root@example.com"}, clock)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(slog.DiscardHandler)
	// Names from tokens must stay in their issuer's namespace ("ci:...").
	p, err := o.Authenticate(context.Background(), iss.Token(map[string]any{"sub": "x", "aud": "stint", "email": "root@example.com"}))
	if stint.ErrorCode(err) != stint.EUNAUTHORIZED {
		t.Fatalf("OIDC principal %+v (err %v) takes the static admin's name", p, err)
	}
}

// Same issuer URL and audience, workload entry first: a token the workload
// entry's subject expression rejects falls through to the human entry.
func TestReview4_FallThroughToHumanEntry(t *testing.T) {
	iss := testenv.StartOIDC(t)
	clock := clocktest.New(time.Now().Truncate(time.Second))
	iss.SetClock(clock)
	ws, _ := policy.CompileSubject(`"svc:" + claims.client_id`)
	hs, _ := policy.CompileSubject(`claims.sub`)
	o, err := authn.NewOIDC(context.Background(), []authn.OIDCIssuer{
		{Name: "idp-svc", Issuer: iss.Issuer(), Audience: "stint", Kind: stint.KindWorkload, Subject: ws},
		{Name: "idp-human", Issuer: iss.Issuer(), Audience: "stint", Kind: stint.KindHuman, Subject: hs},
	}, nil, clock)
	// Refused: a token one entry rejects could be taken by the other.
	if stint.ErrorCode(err) != stint.EINVALID || o != nil {
		t.Fatalf("config with two entries for the same issuer and audience: %v", err)
	}
}
