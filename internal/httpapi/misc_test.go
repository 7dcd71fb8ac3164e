package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/httpapi"
	tst "github.com/stint-io/stint/internal/httpapi/httpapitest"
)

func TestServer_Audit(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		want   stint.AuditFilter
		status int
		msg    string
	}{
		{"None", "", stint.AuditFilter{}, 200, ""},
		{"SinceRFC3339", "?since=2025-01-02T03:04:05%2B01:00", stint.AuditFilter{Since: time.Date(2025, 1, 2, 2, 4, 5, 0, time.UTC)}, 200, ""},
		{"SinceDate", "?since=2025-05-01", stint.AuditFilter{Since: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)}, 200, ""},
		{"SinceDuration", "?since=24h", stint.AuditFilter{Since: now.Add(-24 * time.Hour)}, 200, ""},
		{"SinceDays", "?since=7d", stint.AuditFilter{Since: now.Add(-7 * 24 * time.Hour)}, 200, ""},
		{"All", "?grant=" + tst.GrantID + "&after_seq=10&limit=5",
			stint.AuditFilter{GrantID: tst.GrantID, AfterSeq: 10, Limit: 5}, 200, ""},
		{"BadSince", "?since=yesterday", stint.AuditFilter{}, 400, "since: want an RFC 3339 time"},
		{"BadGrant", "?grant=nope", stint.AuditFilter{}, 400, "grant: not a grant id"},
		{"BadAfterSeq", "?after_seq=-3", stint.AuditFilter{}, 400, "after_seq"},
		{"UnknownParam", "?grant_id=x", stint.AuditFilter{}, 400, `unknown query parameter "grant_id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &tst.Service{FindAuditFunc: func(context.Context, stint.AuditFilter) ([]*stint.AuditRecord, error) {
				return []*stint.AuditRecord{{Seq: 1, Type: stint.AuditConfigLoaded, Actor: stint.ActorStint,
					PrevHash: stint.GenesisHash, Hash: "ab"}}, nil
			}}
			r := do(t, newServer(t, svc, nil), "GET", "/v1/audit"+tt.query, tst.AdminToken, "")
			if tt.status != 200 {
				r.wantError(t, tt.status, stint.EINVALID, tt.msg)
				return
			}
			recs, _ := r.Body["records"].([]any)
			if r.Status != 200 || len(recs) != 1 || recs[0].(map[string]any)["type"] != "config.loaded" {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			if got := svc.LastCall().Args[0].(stint.AuditFilter); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("filter = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("EmptyIsArray", func(t *testing.T) {
		svc := &tst.Service{FindAuditFunc: func(context.Context, stint.AuditFilter) ([]*stint.AuditRecord, error) { return nil, nil }}
		r := do(t, newServer(t, svc, nil), "GET", "/v1/audit", tst.AdminToken, "")
		if r.Raw != "{\"records\":[]}\n" {
			t.Fatalf("got %d %q", r.Status, r.Raw)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		svc := &tst.Service{VerifyAuditFunc: func(context.Context) (*stint.AuditVerifyResult, error) {
			return &stint.AuditVerifyResult{OK: false, Records: 9, LastSeq: 9, BadSeq: 4, Problem: "hash mismatch"}, nil
		}}
		r := do(t, newServer(t, svc, nil), "GET", "/v1/audit/verify", tst.AdminToken, "")
		if r.Status != 200 || r.Body["ok"] != false || r.Body["bad_seq"] != float64(4) || r.Body["problem"] != "hash mismatch" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
}

func TestServer_Explain(t *testing.T) {
	svc := &tst.Service{ExplainFunc: func(_ context.Context, req stint.ExplainRequest) (*stint.Decision, error) {
		if req.Access == "none/none" {
			return nil, stint.Errorf(stint.EINVALID, "unknown resource none")
		}
		return &stint.Decision{Outcome: stint.OutcomeApproval, Policy: "ci-migrations", TTL: 15 * time.Minute,
			MaxTTL: time.Hour, Approval: &stint.ApprovalRule{Approvers: []string{"group:db-owners"}, Count: 1, Timeout: 30 * time.Minute},
			Reason: "needs approval", Results: []stint.PolicyResult{{Policy: "ci-migrations", Outcome: stint.OutcomeApproval, Reason: "matches", Approvals: 1}}}, nil
	}}
	ts := newServer(t, svc, nil)

	r := do(t, ts, "POST", "/v1/policy/explain", tst.AdminToken, `{"principal":"svc/x","access":"prod-db/migrate","ttl":"2h","reason":"r"}`)
	if r.Status != 200 || r.Body["outcome"] != "approval" || r.Body["ttl"] != "15m" || r.Body["max_ttl"] != "1h" ||
		r.Body["approval_timeout"] != "30m" {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	if ps, _ := r.Body["policies"].([]any); len(ps) != 1 {
		t.Fatalf("policies = %v", r.Body["policies"])
	}
	want := stint.ExplainRequest{Principal: "svc/x", Access: "prod-db/migrate", At: now, TTL: stint.Duration(2 * time.Hour), Reason: "r"}
	if got := svc.LastCall().Args[0].(stint.ExplainRequest); !reflect.DeepEqual(got, want) {
		t.Fatalf("request = %+v, want %+v", got, want)
	}

	do(t, ts, "POST", "/v1/policy/explain", tst.AdminToken, `{"principal":"svc/x","access":"a/b","at":"2025-03-04T05:06:07Z"}`)
	if got := svc.LastCall().Args[0].(stint.ExplainRequest).At; !got.Equal(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("at = %v", got)
	}
	do(t, ts, "POST", "/v1/policy/explain", tst.AdminToken, `{"access":"a/b","at":"tomorrow"}`).wantError(t, 400, stint.EINVALID, "at: want an RFC 3339")
	do(t, ts, "POST", "/v1/policy/explain", tst.AdminToken, `{"access":"a/b","who":"x"}`).wantError(t, 400, stint.EINVALID, `unknown field "who"`)
	do(t, ts, "POST", "/v1/policy/explain", tst.AdminToken, `{"access":"none/none"}`).wantError(t, 400, stint.EINVALID, "unknown resource none")
}

func TestServer_Introspect(t *testing.T) {
	var gotToken string
	introspect := func(_ context.Context, token string) (map[string]any, error) {
		gotToken = token
		switch token {
		case "good":
			return map[string]any{"sub": "svc/test", "jti": tst.GrantID, "active": "overridden"}, nil
		case "down":
			return nil, stint.Errorf(stint.EUNAVAILABLE, "store down")
		case "nil":
			return nil, nil
		case "plain":
			return nil, errors.New("go-jose: signature invalid")
		}
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "grant revoked")
	}
	ts := newServer(t, &tst.Service{}, func(s *httpapi.Server) { s.Introspect = introspect })
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}

	tests := []struct {
		name   string
		body   string
		header []string
		status int
		active bool
		code   string
	}{
		{"Form", "token=good&token_type_hint=access_token", form, 200, true, ""},
		{"FormCharset", "token=good", []string{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, 200, true, ""},
		{"JSON", `{"token":"good"}`, nil, 200, true, ""},
		{"Revoked", "token=revoked", form, 200, false, ""},
		{"PlainError", "token=plain", form, 200, false, ""},
		{"NilClaims", "token=nil", form, 200, false, ""},
		{"Unavailable", "token=down", form, 503, false, stint.EUNAVAILABLE},
		{"MissingToken", "foo=bar", form, 400, false, stint.EINVALID},
		{"MissingTokenJSON", `{}`, nil, 400, false, stint.EINVALID},
		{"UnknownJSONField", `{"tok":"x"}`, nil, 400, false, stint.EINVALID},
		{"OtherContentType", "good", []string{"Content-Type", "text/plain"}, 415, false, stint.EINVALID},
		{"OversizeForm", "token=" + strings.Repeat("a", 70<<10), form, 413, false, stint.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, ts, "POST", "/v1/tokens/introspect", tst.WorkloadToken, tt.body, tt.header...)
			if tt.code != "" {
				r.wantError(t, tt.status, tt.code, "")
				return
			}
			if r.Status != 200 || r.Body["active"] != tt.active {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			if tt.active && (r.Body["sub"] != "svc/test" || gotToken != "good") {
				t.Fatalf("got %s (token %q)", r.Raw, gotToken)
			}
			if !tt.active && len(r.Body) != 1 {
				t.Fatalf("inactive answer has claims: %s", r.Raw)
			}
		})
	}

	t.Run("NotConfigured", func(t *testing.T) {
		r := do(t, newServer(t, &tst.Service{}, nil), "POST", "/v1/tokens/introspect", tst.WorkloadToken, "token=good", form...)
		if r.Status != 200 || r.Raw != "{\"active\":false}\n" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
}

func TestServer_Metrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := &tst.Service{FindGrantFunc: func(context.Context, string) (*stint.Grant, error) {
		return tst.Grant(tst.GrantID, stint.StateActive), nil
	}}
	ts := newServer(t, svc, func(s *httpapi.Server) { s.Registry = reg })
	// A second server on the same registry shares the series.
	other := httpapi.NewServer()
	other.Registry = reg
	other.Handler()

	do(t, ts, "GET", "/v1/grants/"+tst.GrantID, tst.WorkloadToken, "")
	do(t, ts, "GET", "/v1/grants/"+tst.GrantID, "", "")
	do(t, ts, "GET", "/no/such/path", "", "")
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`stint_http_requests_total{code="200",method="GET",route="/v1/grants/{id}"} 1`,
		`stint_http_requests_total{code="401",method="GET",route="/v1/grants/{id}"} 1`,
		`stint_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`stint_http_request_duration_seconds_count{method="GET",route="/v1/grants/{id}"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, tst.GrantID) {
		t.Error("a grant id is a label value")
	}
}

func TestServer_JWKS(t *testing.T) {
	ts := newServer(t, &tst.Service{}, func(s *httpapi.Server) {
		s.JWKS = func() ([]byte, error) { return []byte(`{"keys":[{"kid":"k1"}]}`), nil }
	})
	r := do(t, ts, "GET", "/.well-known/jwks.json", "", "")
	if r.Status != 200 || r.Raw != `{"keys":[{"kid":"k1"}]}` || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s %v", r.Status, r.Raw, r.Header)
	}
}
