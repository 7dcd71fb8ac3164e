package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/client"
	"github.com/stint-io/stint/internal/httpapi"
	tst "github.com/stint-io/stint/internal/httpapi/httpapitest"
)

// newClient starts the real API over svc and returns a client with token.
func newClient(t *testing.T, svc *tst.Service, token string, configure func(*httpapi.Server)) *client.Client {
	t.Helper()
	ts := tst.NewServer(t, svc, configure)
	return client.New(ts.URL, token)
}

func wantCall(t *testing.T, svc *tst.Service, principal string, want ...any) {
	t.Helper()
	call := svc.LastCall()
	if got := append([]any{call.Method}, call.Args...); !reflect.DeepEqual(got, want) {
		t.Fatalf("call %#v, want %#v", got, want)
	}
	if call.Principal == nil || call.Principal.Name != principal {
		t.Fatalf("principal %+v, want %s", call.Principal, principal)
	}
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *stint.Error
	if !errors.As(err, &e) || e.Code != code || e.Message != msg {
		t.Fatalf("got error %#v, want %s %q", err, code, msg)
	}
}

func TestNew(t *testing.T) {
	for in, want := range map[string]string{
		"":                           client.DefaultAddr,
		"127.0.0.1:9000":             "http://127.0.0.1:9000",
		"https://stint.example.com/": "https://stint.example.com",
		"http://h:1":                 "http://h:1",
	} {
		if got := client.New(in, "t").Addr(); got != want {
			t.Errorf("New(%q).Addr() = %q, want %q", in, got, want)
		}
	}
	if c := client.New("", ""); c.HTTPClient == nil || c.HTTPClient.Timeout != 30*time.Second {
		t.Errorf("HTTPClient = %+v", c.HTTPClient)
	}
}

func TestClient_RequestGrant(t *testing.T) {
	ctx := context.Background()
	active := tst.Grant(tst.GrantID, stint.StateActive)
	active.ProviderData = map[string]string{"role": "stint_x"}
	active.Window = &stint.WindowRef{Policy: "nightly", Opens: active.RequestedAt, Closes: active.RequestedAt.Add(time.Hour)}
	cred := &stint.Credential{GrantID: tst.GrantID, ExpiresAt: *active.ExpiresAt,
		Env: map[string]string{"PGPASSWORD": "pw"}, Files: map[string]string{"id": "key"}}
	svc := &tst.Service{RequestGrantFunc: func(_ context.Context, req stint.GrantRequest) (*stint.GrantResult, error) {
		if req.Access == "prod-db/migrate" {
			g := tst.Grant(tst.GrantID, stint.StateDenied)
			g.Detail = "no policy"
			return &stint.GrantResult{Grant: g}, stint.Errorf(stint.EDENIED, "no policy allows it")
		}
		return &stint.GrantResult{Grant: active, Credential: cred, Notes: []string{"clamped"}}, nil
	}}
	c := newClient(t, svc, tst.WorkloadToken, nil)

	req := stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "prod-db/readonly", TTL: 36 * time.Hour,
		Reason: "r", Ticket: "T", SSHPublicKey: "ssh-ed25519 AAAA"}}
	res, err := c.RequestGrant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantCall(t, svc, "svc/test", "RequestGrant", req)
	if !reflect.DeepEqual(res.Grant, active) || !reflect.DeepEqual(res.Credential, cred) ||
		!reflect.DeepEqual(res.Notes, []string{"clamped"}) {
		t.Fatalf("got %+v\nwant grant %+v", res, active)
	}

	res, err = c.RequestGrant(ctx, stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "prod-db/migrate"}})
	wantErr(t, err, stint.EDENIED, "no policy allows it")
	if res == nil || res.Grant == nil || res.Grant.State != stint.StateDenied || res.Grant.Detail != "no policy" {
		t.Fatalf("denied result %+v", res)
	}
}

func TestClient_Grants(t *testing.T) {
	ctx := context.Background()
	g := func(st stint.State) *stint.Grant { return tst.Grant(tst.GrantID, st) }
	hist := []*stint.AuditRecord{{Seq: 3, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Type: stint.AuditGrantRequested,
		Actor: "svc/test", GrantID: tst.GrantID, Details: map[string]any{"ttl": "15m"}, PrevHash: "a", Hash: "b"}}
	svc := &tst.Service{
		FindGrantFunc: func(context.Context, string) (*stint.Grant, error) { return g(stint.StateActive), nil },
		FindGrantsFunc: func(context.Context, stint.GrantFilter) ([]*stint.Grant, string, error) {
			return []*stint.Grant{g(stint.StateActive), g(stint.StatePending)}, "c2", nil
		},
		GrantHistoryFunc: func(context.Context, string) ([]*stint.AuditRecord, error) { return hist, nil },
		ApproveGrantFunc: func(context.Context, string, string) (*stint.GrantResult, error) {
			return &stint.GrantResult{Grant: g(stint.StateActive), Notes: []string{"n"}}, nil
		},
		RejectGrantFunc: func(context.Context, string, string) (*stint.Grant, error) { return g(stint.StateRejected), nil },
		RenewGrantFunc: func(context.Context, string, time.Duration) (*stint.GrantResult, error) {
			return &stint.GrantResult{Grant: g(stint.StateActive)}, nil
		},
		RevokeGrantFunc: func(_ context.Context, _, reason string, _ bool) (*stint.Grant, error) {
			if reason == "fail" {
				return g(stint.StateRevoking), stint.Errorf(stint.EUNAVAILABLE, "provider unreachable")
			}
			return g(stint.StateRevoked), nil
		},
		CancelGrantFunc: func(context.Context, string) (*stint.Grant, error) { return g(stint.StateCancelled), nil },
	}
	c := newClient(t, svc, tst.ApproverToken, nil)
	const who = "alice@example.com"

	t.Run("FindGrant", func(t *testing.T) {
		got, err := c.FindGrant(ctx, tst.GrantID)
		if err != nil || !reflect.DeepEqual(got, g(stint.StateActive)) {
			t.Fatalf("got %+v, %v", got, err)
		}
		wantCall(t, svc, who, "FindGrant", tst.GrantID)
	})
	t.Run("FindGrantWithHistory", func(t *testing.T) {
		got, recs, err := c.FindGrantWithHistory(ctx, tst.GrantID)
		if err != nil || got.ID != tst.GrantID || !reflect.DeepEqual(recs, hist) {
			t.Fatalf("got %+v %+v, %v", got, recs, err)
		}
		wantCall(t, svc, who, "GrantHistory", tst.GrantID)
		recs, err = c.GrantHistory(ctx, tst.GrantID)
		if err != nil || !reflect.DeepEqual(recs, hist) {
			t.Fatalf("GrantHistory: %+v, %v", recs, err)
		}
	})
	t.Run("FindGrants", func(t *testing.T) {
		f := stint.GrantFilter{State: []stint.State{stint.StateActive, stint.StatePending}, Principal: "svc/a b",
			Access: "prod-db/readonly", IDs: []string{tst.GrantID}, Limit: 2, Cursor: "c1+/="}
		gs, next, err := c.FindGrants(ctx, f)
		if err != nil || len(gs) != 2 || gs[1].State != stint.StatePending || next != "c2" {
			t.Fatalf("got %v %q, %v", gs, next, err)
		}
		wantCall(t, svc, who, "FindGrants", f)
	})
	t.Run("ApproveGrant", func(t *testing.T) {
		res, err := c.ApproveGrant(ctx, tst.GrantID, "lgtm")
		if err != nil || res.Grant.State != stint.StateActive || res.Notes[0] != "n" || res.Credential != nil {
			t.Fatalf("got %+v, %v", res, err)
		}
		wantCall(t, svc, who, "ApproveGrant", tst.GrantID, "lgtm")
	})
	t.Run("RejectGrant", func(t *testing.T) {
		got, err := c.RejectGrant(ctx, tst.GrantID, "no")
		if err != nil || got.State != stint.StateRejected {
			t.Fatalf("got %+v, %v", got, err)
		}
		wantCall(t, svc, who, "RejectGrant", tst.GrantID, "no")
	})
	t.Run("RenewGrant", func(t *testing.T) {
		res, err := c.RenewGrant(ctx, tst.GrantID, 90*time.Minute)
		if err != nil || res.Grant.State != stint.StateActive {
			t.Fatalf("got %+v, %v", res, err)
		}
		wantCall(t, svc, who, "RenewGrant", tst.GrantID, 90*time.Minute)
		if _, err := c.RenewGrant(ctx, tst.GrantID, 0); err != nil {
			t.Fatal(err)
		}
		wantCall(t, svc, who, "RenewGrant", tst.GrantID, time.Duration(0))
	})
	t.Run("RevokeGrant", func(t *testing.T) {
		got, err := c.RevokeGrant(ctx, tst.GrantID, "done", true)
		if err != nil || got.State != stint.StateRevoked {
			t.Fatalf("got %+v, %v", got, err)
		}
		wantCall(t, svc, who, "RevokeGrant", tst.GrantID, "done", true)
		got, err = c.RevokeGrant(ctx, tst.GrantID, "fail", false)
		wantErr(t, err, stint.EUNAVAILABLE, "provider unreachable")
		if got == nil || got.State != stint.StateRevoking {
			t.Fatalf("failed revocation: grant %+v", got)
		}
	})
	t.Run("CancelGrant", func(t *testing.T) {
		got, err := c.CancelGrant(ctx, tst.GrantID)
		if err != nil || got.State != stint.StateCancelled {
			t.Fatalf("got %+v, %v", got, err)
		}
		wantCall(t, svc, who, "CancelGrant", tst.GrantID)
	})
	t.Run("EmptyID", func(t *testing.T) {
		n := len(svc.Calls())
		_, err := c.FindGrant(ctx, "")
		wantErr(t, err, stint.EINVALID, "grant id required")
		_, err = c.CancelGrant(ctx, "")
		wantErr(t, err, stint.EINVALID, "grant id required")
		if len(svc.Calls()) != n {
			t.Fatal("service called")
		}
	})
	t.Run("BadIDServerSide", func(t *testing.T) {
		_, err := c.FindGrant(ctx, "../../healthz")
		wantErr(t, err, stint.EINVALID, "grant id: not a grant id (26 characters of 0-9 and a-z)")
	})
}

func TestClient_Audit(t *testing.T) {
	ctx := context.Background()
	recs := []*stint.AuditRecord{{Seq: 5, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Type: stint.AuditConfigLoaded,
		Actor: stint.ActorStint, PrevHash: stint.GenesisHash, Hash: "h"}}
	svc := &tst.Service{
		FindAuditFunc: func(context.Context, stint.AuditFilter) ([]*stint.AuditRecord, error) { return recs, nil },
		VerifyAuditFunc: func(context.Context) (*stint.AuditVerifyResult, error) {
			return &stint.AuditVerifyResult{OK: false, Records: 5, LastSeq: 5, BadSeq: 2, Problem: "hash mismatch"}, nil
		},
	}
	c := newClient(t, svc, tst.AdminToken, nil)
	f := stint.AuditFilter{Since: time.Date(2025, 1, 1, 0, 0, 0, 123, time.UTC), GrantID: tst.GrantID, AfterSeq: 4, Limit: 10}
	got, err := c.FindAudit(ctx, f)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("got %+v, %v", got, err)
	}
	wantCall(t, svc, "root@example.com", "FindAudit", f)
	if _, err := c.FindAudit(ctx, stint.AuditFilter{}); err != nil {
		t.Fatal(err)
	}
	wantCall(t, svc, "root@example.com", "FindAudit", stint.AuditFilter{})

	v, err := c.VerifyAudit(ctx)
	if err != nil || !reflect.DeepEqual(v, &stint.AuditVerifyResult{Records: 5, LastSeq: 5, BadSeq: 2, Problem: "hash mismatch"}) {
		t.Fatalf("got %+v, %v", v, err)
	}
}

func TestClient_Explain(t *testing.T) {
	ctx := context.Background()
	d := &stint.Decision{Outcome: stint.OutcomeApproval, Policy: "ci", TTL: 15 * time.Minute, MaxTTL: time.Hour,
		Approval: &stint.ApprovalRule{Approvers: []string{"group:db-owners"}, Count: 2, Timeout: 30 * time.Minute},
		Reason:   "needs approval", Results: []stint.PolicyResult{{Policy: "ci", Outcome: stint.OutcomeApproval, Reason: "ok", Approvals: 2}}}
	svc := &tst.Service{ExplainFunc: func(context.Context, stint.ExplainRequest) (*stint.Decision, error) { return d, nil }}
	c := newClient(t, svc, tst.AdminToken, nil)
	req := stint.ExplainRequest{Principal: "svc/x", Access: "prod-db/migrate", At: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC),
		TTL: stint.Duration(2 * time.Hour), Reason: "r", Ticket: "t"}
	got, err := c.Explain(ctx, req)
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, d)
	}
	wantCall(t, svc, "root@example.com", "Explain", req)
}

func TestClient_Misc(t *testing.T) {
	ctx := context.Background()
	ready := error(nil)
	c := newClient(t, &tst.Service{}, tst.ApproverToken, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return ready }
		s.Introspect = func(_ context.Context, token string) (map[string]any, error) {
			if token == "good" {
				return map[string]any{"sub": "svc/test"}, nil
			}
			return nil, errors.New("bad")
		}
	})
	p, err := c.WhoAmI(ctx)
	if err != nil || !reflect.DeepEqual(p, &stint.Principal{Name: "alice@example.com", Kind: "human", Issuer: "static",
		Groups: []string{"db-owners"}}) {
		t.Fatalf("WhoAmI: %+v, %v", p, err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	ready = errors.New("down")
	wantErr(t, c.Ready(ctx), stint.EUNAVAILABLE, "not ready")

	m, err := c.Introspect(ctx, "good")
	if err != nil || m["active"] != true || m["sub"] != "svc/test" {
		t.Fatalf("Introspect: %v, %v", m, err)
	}
	if m, err = c.Introspect(ctx, "bad"); err != nil || m["active"] != false {
		t.Fatalf("Introspect: %v, %v", m, err)
	}

	var out map[string]any
	err = c.Do(ctx, http.MethodGet, "/v1/nothing", nil, &out)
	wantErr(t, err, stint.ENOTFOUND, "no such endpoint")
}

func TestClient_ErrorCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		err  error
		code string
		msg  string
	}{
		{stint.Errorf(stint.EINVALID, "bad"), stint.EINVALID, "bad"},
		{stint.Errorf(stint.EUNAUTHORIZED, "who"), stint.EUNAUTHORIZED, "who"},
		{stint.Errorf(stint.EDENIED, "no"), stint.EDENIED, "no"},
		{stint.Errorf(stint.ENOTFOUND, "grant x not found"), stint.ENOTFOUND, "grant x not found"},
		{stint.Errorf(stint.ECONFLICT, "not pending"), stint.ECONFLICT, "not pending"},
		{stint.Errorf(stint.ETIMEOUT, "slow"), stint.ETIMEOUT, "slow"},
		{stint.Errorf(stint.EUNAVAILABLE, "down"), stint.EUNAVAILABLE, "down"},
		{&stint.Error{Code: stint.EINTERNAL, Message: "detail", Err: errors.New("cause")}, stint.EINTERNAL, "internal error"},
		{errors.New("plain"), stint.EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			svc := &tst.Service{CancelGrantFunc: func(context.Context, string) (*stint.Grant, error) { return nil, tt.err }}
			c := newClient(t, svc, tst.WorkloadToken, nil)
			g, err := c.CancelGrant(ctx, tst.GrantID)
			wantErr(t, err, tt.code, tt.msg)
			if g != nil || errors.Is(err, client.ErrUnreachable) {
				t.Fatalf("grant %+v, err %v", g, err)
			}
		})
	}
}

func TestClient_Unauthenticated(t *testing.T) {
	ctx := context.Background()
	svc := &tst.Service{}
	for _, token := range []string{"wrong", ""} {
		c := newClient(t, svc, token, nil)
		_, err := c.WhoAmI(ctx)
		var e *stint.Error
		if !errors.As(err, &e) || e.Code != stint.EUNAUTHORIZED {
			t.Fatalf("token %q: got %v", token, err)
		}
		if token != "" && strings.Contains(err.Error(), token) {
			t.Fatalf("error %q contains the token", err)
		}
		if err := c.Health(ctx); err != nil {
			t.Fatalf("health needs no token: %v", err)
		}
	}
}

func TestClient_Unreachable(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := client.New(addr, "stint_secret_token")
	_, err = c.FindGrant(ctx, tst.GrantID)
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), "http://"+addr) || strings.Contains(err.Error(), "stint_secret_token") {
		t.Fatalf("error %q", err)
	}
	if stint.ErrorCode(err) == stint.EUNAUTHORIZED {
		t.Fatal("unreachable is not unauthorized")
	}
	if err := c.Health(ctx); !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("Health: %v", err)
	}
}

func TestClient_ContextCancelled(t *testing.T) {
	block, started := make(chan struct{}), make(chan struct{})
	svc := &tst.Service{FindGrantFunc: func(ctx context.Context, _ string) (*stint.Grant, error) {
		close(started)
		<-block
		return nil, ctx.Err()
	}}
	c := newClient(t, svc, tst.WorkloadToken, nil)
	t.Cleanup(func() { close(block) })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.FindGrant(ctx, tst.GrantID)
		errc <- err
	}()
	<-started
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestClient_ProxyErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		status int
		code   string
	}{
		{502, stint.EUNAVAILABLE}, {503, stint.EUNAVAILABLE}, {504, stint.ETIMEOUT}, {404, stint.ENOTFOUND},
		{401, stint.EUNAUTHORIZED}, {403, stint.EDENIED}, {413, stint.EINVALID}, {500, stint.EINTERNAL}, {418, stint.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte("<html>proxy error</html>"))
			}))
			defer ts.Close()
			_, err := client.New(ts.URL, "t").FindGrant(ctx, tst.GrantID)
			if stint.ErrorCode(err) != tt.code || strings.Contains(err.Error(), "html") {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}

	t.Run("MalformedSuccess", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>not stint</html>"))
		}))
		defer ts.Close()
		_, err := client.New(ts.URL, "t").FindGrant(ctx, tst.GrantID)
		if stint.ErrorCode(err) != stint.EINTERNAL || !strings.Contains(err.Error(), "malformed answer from GET /v1/grants/") {
			t.Fatalf("got %v", err)
		}
	})
}
