package httpapi_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	tst "github.com/stint-io/stint/internal/httpapi/httpapitest"
)

func TestServer_RequestGrant(t *testing.T) {
	active := func(ctx context.Context, req stint.GrantRequest) (*stint.GrantResult, error) {
		g := tst.Grant(tst.GrantID, stint.StateActive)
		g.Access = req.Access
		return &stint.GrantResult{
			Grant: g,
			Credential: &stint.Credential{GrantID: g.ID, ExpiresAt: *g.ExpiresAt,
				Env: map[string]string{"PGUSER": "stint_" + g.ID, "PGPASSWORD": "pw"}},
			Notes: []string{"ttl clamped to 1h"},
		}, nil
	}

	t.Run("Active", func(t *testing.T) {
		svc := &tst.Service{RequestGrantFunc: active}
		ts := newServer(t, svc, nil)
		r := do(t, ts, "POST", "/v1/grants", tst.WorkloadToken,
			`{"access":"prod-db/readonly","ttl":"15m","reason":"r","ticket":"T-1","ssh_public_key":"ssh-ed25519 AAAA"}`)
		if r.Status != 201 {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		for k, v := range map[string]any{"id": tst.GrantID, "state": "active", "access": "prod-db/readonly",
			"principal": "svc/test", "policy": "routine-reads", "expires_at": "2025-01-02T03:19:05Z", "ended_at": nil} {
			if got, ok := r.Body[k]; !ok || got != v {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
		cred, _ := r.Body["credential"].(map[string]any)
		env, _ := cred["env"].(map[string]any)
		if env["PGPASSWORD"] != "pw" || cred["grant_id"] != tst.GrantID {
			t.Errorf("credential = %v", r.Body["credential"])
		}
		if fmt.Sprint(r.Body["notes"]) != "[ttl clamped to 1h]" {
			t.Errorf("notes = %v", r.Body["notes"])
		}
		if loc := r.Header.Get("Location"); loc != "/v1/grants/"+tst.GrantID {
			t.Errorf("Location = %q", loc)
		}
		if _, ok := r.Body["grant"]; ok {
			t.Error("grant fields must be at the top level")
		}
		call := svc.LastCall()
		want := stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "prod-db/readonly", TTL: 15 * time.Minute,
			Reason: "r", Ticket: "T-1", SSHPublicKey: "ssh-ed25519 AAAA"}}
		if call.Method != "RequestGrant" || !reflect.DeepEqual(call.Args[0], want) || call.Principal.Name != "svc/test" {
			t.Fatalf("call = %+v", call)
		}
	})

	t.Run("Pending", func(t *testing.T) {
		svc := &tst.Service{RequestGrantFunc: func(context.Context, stint.GrantRequest) (*stint.GrantResult, error) {
			return &stint.GrantResult{Grant: tst.Grant(tst.GrantID, stint.StatePending)}, nil
		}}
		r := do(t, newServer(t, svc, nil), "POST", "/v1/grants", tst.WorkloadToken, `{"access":"prod-db/readonly"}`)
		if r.Status != 201 || r.Body["state"] != "pending" || r.Body["activated_at"] != nil {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		if _, ok := r.Body["credential"]; ok {
			t.Fatal("credential in a pending answer")
		}
	})

	t.Run("Denied", func(t *testing.T) {
		svc := &tst.Service{RequestGrantFunc: func(context.Context, stint.GrantRequest) (*stint.GrantResult, error) {
			g := tst.Grant(tst.GrantID, stint.StateDenied)
			g.Detail = "no policy allows svc/test prod-db/migrate"
			return &stint.GrantResult{Grant: g}, stint.Errorf(stint.EDENIED, "no policy allows it")
		}}
		r := do(t, newServer(t, svc, nil), "POST", "/v1/grants", tst.WorkloadToken, `{"access":"prod-db/migrate"}`)
		r.wantError(t, 403, stint.EDENIED, "no policy allows it")
		g, _ := r.Body["grant"].(map[string]any)
		if g["state"] != "denied" || g["id"] != tst.GrantID || g["detail"] == nil {
			t.Fatalf("grant = %v", r.Body["grant"])
		}
	})

	t.Run("NoGrant", func(t *testing.T) {
		svc := &tst.Service{RequestGrantFunc: func(context.Context, stint.GrantRequest) (*stint.GrantResult, error) {
			return &stint.GrantResult{}, nil
		}}
		do(t, newServer(t, svc, nil), "POST", "/v1/grants", tst.WorkloadToken, `{"access":"a/b"}`).
			wantError(t, 500, stint.EINTERNAL, "internal error")
	})

	tests := []struct {
		name   string
		body   string
		header []string
		status int
		msg    string
		ttl    time.Duration // when status is 201
	}{
		{"TTLDays", `{"access":"a/b","ttl":"1d"}`, nil, 201, "", 24 * time.Hour},
		{"TTLSeconds", `{"access":"a/b","ttl":90}`, nil, 201, "", 90 * time.Second},
		{"TTLEmpty", `{"access":"a/b","ttl":""}`, nil, 201, "", 0},
		{"TTLNull", `{"access":"a/b","ttl":null}`, nil, 201, "", 0},
		{"BadTTL", `{"access":"a/b","ttl":"soon"}`, nil, 400, `ttl: invalid duration "soon"`, 0},
		{"NegativeTTL", `{"access":"a/b","ttl":"-5m"}`, nil, 400, "ttl: ", 0},
		{"TTLBool", `{"access":"a/b","ttl":true}`, nil, 400, "ttl: duration must be", 0},
		{"UnknownField", `{"acess":"a/b"}`, nil, 400, `unknown field "acess"`, 0},
		{"WrongType", `{"access":5}`, nil, 400, `field "access": expected string, not number`, 0},
		{"Array", `[{"access":"a/b"}]`, nil, 400, "must be a JSON object", 0},
		{"Malformed", `{"access":"a/b",}`, nil, 400, "malformed JSON at byte", 0},
		{"Truncated", `{"access":"a/b"`, nil, 400, "malformed JSON: unexpected end", 0},
		{"Trailing", `{"access":"a/b"} {"access":"c/d"}`, nil, 400, "single JSON object", 0},
		{"TrailingGarbage", `{"access":"a/b"}x`, nil, 400, "single JSON object", 0},
		{"Empty", ``, nil, 400, "request body is empty", 0},
		{"Oversize", `{"access":"a/b","reason":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "too large (limit 64 KiB)", 0},
		{"OversizeTrailing", `{"access":"a/b"}` + strings.Repeat(" ", 70<<10) + "x", nil, 413, "too large", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &tst.Service{RequestGrantFunc: active}
			r := do(t, newServer(t, svc, nil), "POST", "/v1/grants", tst.WorkloadToken, tt.body, tt.header...)
			if tt.status != 201 {
				r.wantError(t, tt.status, stint.EINVALID, tt.msg)
				if len(svc.Calls()) != 0 {
					t.Fatal("service called with a bad request")
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			if got := svc.LastCall().Args[0].(stint.GrantRequest).TTL; got != tt.ttl {
				t.Fatalf("ttl = %v, want %v", got, tt.ttl)
			}
		})
	}
}

func TestServer_ListGrants(t *testing.T) {
	list := func(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
		return []*stint.Grant{tst.Grant(tst.GrantID, stint.StateActive)}, "next-page", nil
	}
	tests := []struct {
		name   string
		query  string
		want   stint.GrantFilter
		status int
		msg    string
	}{
		{"None", "", stint.GrantFilter{}, 200, ""},
		{"All", "?state=active&state=pending,expired&principal=svc/x&access=prod-db/readonly&limit=20&cursor=abc",
			stint.GrantFilter{State: []stint.State{"active", "pending", "expired"}, Principal: "svc/x",
				Access: "prod-db/readonly", Limit: 20, Cursor: "abc"}, 200, ""},
		{"IDs", "?id=" + tst.GrantID, stint.GrantFilter{IDs: []string{tst.GrantID}}, 200, ""},
		{"BadState", "?state=alive", stint.GrantFilter{}, 400, `state: unknown state "alive"`},
		{"BadLimit", "?limit=-1", stint.GrantFilter{}, 400, "limit: must be a non-negative integer"},
		{"LimitNotNumber", "?limit=ten", stint.GrantFilter{}, 400, "limit"},
		{"BadID", "?id=x", stint.GrantFilter{}, 400, "id: not a grant id"},
		{"UnknownParam", "?stat=active", stint.GrantFilter{}, 400, `unknown query parameter "stat"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &tst.Service{FindGrantsFunc: list}
			r := do(t, newServer(t, svc, nil), "GET", "/v1/grants"+tt.query, tst.WorkloadToken, "")
			if tt.status != 200 {
				r.wantError(t, tt.status, stint.EINVALID, tt.msg)
				return
			}
			if r.Status != 200 || r.Body["next_cursor"] != "next-page" {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			gs, _ := r.Body["grants"].([]any)
			if len(gs) != 1 || gs[0].(map[string]any)["id"] != tst.GrantID {
				t.Fatalf("grants = %v", r.Body["grants"])
			}
			if got := svc.LastCall().Args[0].(stint.GrantFilter); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("filter = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("EmptyIsArray", func(t *testing.T) {
		svc := &tst.Service{FindGrantsFunc: func(context.Context, stint.GrantFilter) ([]*stint.Grant, string, error) {
			return nil, "", nil
		}}
		r := do(t, newServer(t, svc, nil), "GET", "/v1/grants", tst.WorkloadToken, "")
		if r.Status != 200 || !strings.Contains(r.Raw, `"grants":[]`) || !strings.Contains(r.Raw, `"next_cursor":""`) {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
}

func TestServer_GetGrant(t *testing.T) {
	svc := &tst.Service{
		FindGrantFunc: func(_ context.Context, id string) (*stint.Grant, error) {
			if id != tst.GrantID {
				return nil, stint.Errorf(stint.ENOTFOUND, "grant %s not found", id)
			}
			return tst.Grant(id, stint.StateActive), nil
		},
		GrantHistoryFunc: func(_ context.Context, id string) ([]*stint.AuditRecord, error) {
			return []*stint.AuditRecord{{Seq: 7, Type: stint.AuditGrantRequested, Actor: "svc/test", GrantID: id}}, nil
		},
	}
	ts := newServer(t, svc, nil)

	r := do(t, ts, "GET", "/v1/grants/"+tst.GrantID, tst.WorkloadToken, "")
	if r.Status != 200 || r.Body["id"] != tst.GrantID || r.Body["history"] != nil {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	if _, ok := r.Body["approvals"]; !ok {
		t.Fatal("no approvals field")
	}
	for _, q := range []string{"?history=1", "?history=true"} {
		r = do(t, ts, "GET", "/v1/grants/"+tst.GrantID+q, tst.WorkloadToken, "")
		h, _ := r.Body["history"].([]any)
		if r.Status != 200 || r.Body["id"] != tst.GrantID || len(h) != 1 || h[0].(map[string]any)["seq"] != float64(7) {
			t.Fatalf("%s: got %d %s", q, r.Status, r.Raw)
		}
	}
	do(t, ts, "GET", "/v1/grants/"+tst.GrantID+"?history=maybe", tst.WorkloadToken, "").wantError(t, 400, stint.EINVALID, "history")
	do(t, ts, "GET", "/v1/grants/not-an-id", tst.WorkloadToken, "").wantError(t, 400, stint.EINVALID, "not a grant id")
	do(t, ts, "GET", "/v1/grants/01jgzq2b8c0000000000000001", tst.WorkloadToken, "").wantError(t, 404, stint.ENOTFOUND, "not found")
}

func TestServer_Transitions(t *testing.T) {
	g := func(st stint.State) *stint.Grant { return tst.Grant(tst.GrantID, st) }
	svc := &tst.Service{
		ApproveGrantFunc: func(_ context.Context, id, comment string) (*stint.GrantResult, error) {
			return &stint.GrantResult{Grant: g(stint.StateActive), Notes: []string{"approved"}}, nil
		},
		RejectGrantFunc: func(_ context.Context, id, reason string) (*stint.Grant, error) { return g(stint.StateRejected), nil },
		RevokeGrantFunc: func(_ context.Context, id, reason string, force bool) (*stint.Grant, error) {
			if reason == "fail" {
				return g(stint.StateRevoking), stint.Errorf(stint.EUNAVAILABLE, "provider: connection refused")
			}
			return g(stint.StateRevoked), nil
		},
		RenewGrantFunc: func(_ context.Context, id string, ttl time.Duration) (*stint.GrantResult, error) {
			return &stint.GrantResult{Grant: g(stint.StateActive)}, nil
		},
		CancelGrantFunc: func(_ context.Context, id string) (*stint.Grant, error) {
			return nil, stint.Errorf(stint.ECONFLICT, "grant is active, not pending")
		},
	}
	ts := newServer(t, svc, nil)
	path := "/v1/grants/" + tst.GrantID + "/"
	tests := []struct {
		name     string
		action   string
		body     string
		status   int
		state    string
		wantCall []any
	}{
		{"Approve", "approve", `{"comment":"ok"}`, 200, "active", []any{"ApproveGrant", tst.GrantID, "ok"}},
		{"ApproveNoBody", "approve", ``, 200, "active", []any{"ApproveGrant", tst.GrantID, ""}},
		{"Reject", "reject", `{"reason":"no"}`, 200, "rejected", []any{"RejectGrant", tst.GrantID, "no"}},
		{"Revoke", "revoke", `{"reason":"done","force":true}`, 200, "revoked", []any{"RevokeGrant", tst.GrantID, "done", true}},
		{"RevokeFails", "revoke", `{"reason":"fail"}`, 503, "revoking", []any{"RevokeGrant", tst.GrantID, "fail", false}},
		{"Renew", "renew", `{"ttl":"30m"}`, 200, "active", []any{"RenewGrant", tst.GrantID, 30 * time.Minute}},
		{"RenewDefault", "renew", `{}`, 200, "active", []any{"RenewGrant", tst.GrantID, time.Duration(0)}},
		{"Cancel", "cancel", ``, 409, "", []any{"CancelGrant", tst.GrantID}},
		{"CancelEmptyObject", "cancel", `{}`, 409, "", []any{"CancelGrant", tst.GrantID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, ts, "POST", path+tt.action, tst.ApproverToken, tt.body)
			if r.Status != tt.status {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			body := r.Body
			if tt.status >= 400 {
				body, _ = r.Body["grant"].(map[string]any)
			}
			if tt.state != "" && body["state"] != tt.state {
				t.Fatalf("state: %s", r.Raw)
			}
			call := svc.LastCall()
			if got := append([]any{call.Method}, call.Args...); !reflect.DeepEqual(got, tt.wantCall) {
				t.Fatalf("call %v, want %v", got, tt.wantCall)
			}
			if call.Principal.Name != "alice@example.com" {
				t.Fatalf("principal %v", call.Principal)
			}
		})
	}

	bad := []struct{ name, path, body, msg string }{
		{"UnknownField", path + "approve", `{"coment":"x"}`, `unknown field "coment"`},
		{"CancelWithField", path + "cancel", `{"reason":"x"}`, `unknown field "reason"`},
		{"RevokeForceString", path + "revoke", `{"force":"yes"}`, `field "force"`},
		{"RenewBadTTL", path + "renew", `{"ttl":"1y"}`, "ttl: invalid duration"},
		{"BadID", "/v1/grants/xyz/approve", `{}`, "not a grant id"},
		{"QueryParam", path + "cancel?force=1", ``, `unknown query parameter "force"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			n := len(svc.Calls())
			do(t, ts, "POST", tt.path, tst.ApproverToken, tt.body).wantError(t, 400, stint.EINVALID, tt.msg)
			if len(svc.Calls()) != n {
				t.Fatal("service called")
			}
		})
	}
}
