package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/httpapi"
	tst "github.com/stint-io/stint/internal/httpapi/httpapitest"
)

// fixedClock is a stint.Clock stopped at one instant.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                     { return c.t }
func (c fixedClock) NewTimer(time.Duration) stint.Timer { panic("not used") }

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// do sends a request; body is sent as is with Content-Type application/json
// unless header says otherwise.
func do(t *testing.T, ts *httptest.Server, method, path, token, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// errCode returns error.code and error.message of a response.
func (r response) err() (code, msg string) {
	e, _ := r.Body["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

func (r response) wantError(t *testing.T, status int, code, msgPart string) {
	t.Helper()
	c, m := r.err()
	if r.Status != status || c != code || !strings.Contains(m, msgPart) {
		t.Fatalf("got %d %s %q (%s); want %d %s containing %q", r.Status, c, m, r.Raw, status, code, msgPart)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func newServer(t *testing.T, svc *tst.Service, configure func(*httpapi.Server)) *httptest.Server {
	t.Helper()
	return tst.NewServer(t, svc, func(s *httpapi.Server) {
		s.Clock = fixedClock{now}
		if configure != nil {
			configure(s)
		}
	})
}

func TestServer_Authentication(t *testing.T) {
	svc := &tst.Service{}
	ts := newServer(t, svc, func(s *httpapi.Server) {
		s.JWKS = func() ([]byte, error) { return []byte(`{"keys":[]}`), nil }
	})
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		status int
		code   string
	}{
		{"NoHeader", "GET", "/v1/whoami", nil, 401, stint.EUNAUTHORIZED},
		{"BasicScheme", "GET", "/v1/whoami", []string{"Authorization", "Basic " + tst.WorkloadToken}, 401, stint.EUNAUTHORIZED},
		{"EmptyBearer", "GET", "/v1/whoami", []string{"Authorization", "Bearer "}, 401, stint.EUNAUTHORIZED},
		{"WrongToken", "GET", "/v1/whoami", []string{"Authorization", "Bearer nope"}, 401, stint.EUNAUTHORIZED},
		{"Valid", "GET", "/v1/whoami", []string{"Authorization", "Bearer " + tst.WorkloadToken}, 200, ""},
		{"LowerCaseScheme", "GET", "/v1/whoami", []string{"Authorization", "bearer " + tst.WorkloadToken}, 200, ""},
		{"GrantsNeedAuth", "POST", "/v1/grants", nil, 401, stint.EUNAUTHORIZED},
		{"ListNeedsAuth", "GET", "/v1/grants", nil, 401, stint.EUNAUTHORIZED},
		{"AuditNeedsAuth", "GET", "/v1/audit", nil, 401, stint.EUNAUTHORIZED},
		{"IntrospectNeedsAuth", "POST", "/v1/tokens/introspect", nil, 401, stint.EUNAUTHORIZED},
		{"UnknownV1NeedsAuth", "GET", "/v1/nothing", nil, 401, stint.EUNAUTHORIZED},
		{"UnknownV1", "GET", "/v1/nothing", []string{"Authorization", "Bearer " + tst.WorkloadToken}, 404, stint.ENOTFOUND},
		{"UnknownRoot", "GET", "/nothing", nil, 404, stint.ENOTFOUND},
		{"WrongMethod", "DELETE", "/v1/grants", []string{"Authorization", "Bearer " + tst.WorkloadToken}, 405, stint.EINVALID},
		{"Healthz", "GET", "/healthz", nil, 200, ""},
		{"Readyz", "GET", "/readyz", nil, 200, ""},
		{"JWKS", "GET", "/.well-known/jwks.json", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, ts, tt.method, tt.path, "", "", tt.header...)
			if tt.code == "" {
				if r.Status != tt.status {
					t.Fatalf("got %d %s", r.Status, r.Raw)
				}
				return
			}
			r.wantError(t, tt.status, tt.code, "")
			if tt.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 405 && r.Header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow = %q", r.Header.Get("Allow"))
			}
		})
	}
	if n := len(svc.Calls()); n != 0 {
		t.Fatalf("%d service calls, want none", n)
	}
}

func TestServer_WhoAmI(t *testing.T) {
	ts := newServer(t, &tst.Service{}, nil)
	r := do(t, ts, "GET", "/v1/whoami", tst.AdminToken, "")
	if r.Status != 200 || r.Body["name"] != "root@example.com" || r.Body["kind"] != "human" ||
		r.Body["issuer"] != "static" || r.Body["admin"] != true {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
}

func TestServer_ErrorStatus(t *testing.T) {
	tests := []struct {
		err     error
		status  int
		code    string
		message string
	}{
		{stint.Errorf(stint.EINVALID, "bad access"), 400, stint.EINVALID, "bad access"},
		{stint.Errorf(stint.EUNAUTHORIZED, "who"), 401, stint.EUNAUTHORIZED, "who"},
		{stint.Errorf(stint.EDENIED, "not yours"), 403, stint.EDENIED, "not yours"},
		{stint.Errorf(stint.ENOTFOUND, "no grant"), 404, stint.ENOTFOUND, "no grant"},
		{stint.Errorf(stint.ECONFLICT, "grant is expired"), 409, stint.ECONFLICT, "grant is expired"},
		{stint.Errorf(stint.ETIMEOUT, "too slow"), 504, stint.ETIMEOUT, "too slow"},
		{stint.Errorf(stint.EUNAVAILABLE, "store down"), 503, stint.EUNAVAILABLE, "store down"},
		{&stint.Error{Code: stint.EINTERNAL, Message: "secret detail", Err: errors.New("cause")}, 500, stint.EINTERNAL, "internal error"},
		{errors.New("password=hunter2"), 500, stint.EINTERNAL, "internal error"},
		{&stint.Error{Code: "teapot", Message: "odd"}, 500, "teapot", "odd"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			var logs bytes.Buffer
			svc := &tst.Service{FindGrantFunc: func(context.Context, string) (*stint.Grant, error) { return nil, tt.err }}
			ts := newServer(t, svc, func(s *httpapi.Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			r := do(t, ts, "GET", "/v1/grants/"+tst.GrantID, tst.WorkloadToken, "")
			r.wantError(t, tt.status, tt.code, tt.message)
			if _, m := r.err(); m != tt.message {
				t.Fatalf("message %q, want exactly %q", m, tt.message)
			}
			if tt.status == 500 && !strings.Contains(logs.String(), "request failed") {
				t.Fatalf("internal error not logged: %s", logs.String())
			}
		})
	}
}

func TestServer_Panic(t *testing.T) {
	var logs bytes.Buffer
	svc := &tst.Service{FindGrantFunc: func(context.Context, string) (*stint.Grant, error) { panic("boom") }}
	ts := newServer(t, svc, func(s *httpapi.Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	r := do(t, ts, "GET", "/v1/grants/"+tst.GrantID, tst.WorkloadToken, "")
	r.wantError(t, 500, stint.EINTERNAL, "internal error")
	if !strings.Contains(logs.String(), "panic in handler") || !strings.Contains(logs.String(), "status=500") {
		t.Fatalf("logs: %s", logs.String())
	}
}

func TestServer_Logging(t *testing.T) {
	var logs bytes.Buffer
	svc := &tst.Service{RequestGrantFunc: func(context.Context, stint.GrantRequest) (*stint.GrantResult, error) {
		return &stint.GrantResult{Grant: tst.Grant(tst.GrantID, stint.StateActive),
			Credential: &stint.Credential{Env: map[string]string{"PGPASSWORD": "s3cret-pw"}}}, nil
	}}
	ts := newServer(t, svc, func(s *httpapi.Server) { s.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	r := do(t, ts, "POST", "/v1/grants", tst.WorkloadToken, `{"access":"prod-db/readonly","reason":"my-reason-text"}`)
	if r.Status != 201 {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON log line: %v: %s", err, logs.String())
	}
	for k, v := range map[string]any{"msg": "http request", "method": "POST", "path": "/v1/grants",
		"status": float64(201), "principal": "svc/test"} {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Error("no duration logged")
	}
	for _, secret := range []string{tst.WorkloadToken, "s3cret-pw", "my-reason-text", "Authorization"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q: %s", secret, logs.String())
		}
	}
}

func TestServer_HealthAndReady(t *testing.T) {
	ready := errors.New("store: connection refused")
	ts := newServer(t, &tst.Service{}, func(s *httpapi.Server) {
		s.Ready = func(context.Context) error { return ready }
	})
	r := do(t, ts, "GET", "/healthz", "", "")
	if r.Status != 200 || r.Body["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.Status, r.Raw)
	}
	r = do(t, ts, "GET", "/readyz", "", "")
	if r.Status != 503 || r.Body["status"] != "unavailable" || strings.Contains(r.Raw, "refused") {
		t.Fatalf("readyz: %d %s", r.Status, r.Raw)
	}
	ready = nil
	if r = do(t, ts, "GET", "/readyz", "", ""); r.Status != 200 {
		t.Fatalf("readyz: %d %s", r.Status, r.Raw)
	}
	if r = do(t, ts, "GET", "/.well-known/jwks.json", "", ""); r.Status != 404 {
		t.Fatalf("jwks without JWKS: %d %s", r.Status, r.Raw)
	}
	if r = do(t, ts, "GET", "/metrics", "", ""); r.Status != 404 {
		t.Fatalf("metrics without registry: %d %s", r.Status, r.Raw)
	}
}

func TestServer_NilServices(t *testing.T) {
	s := httpapi.NewServer()
	s.Auth = tst.Authenticator()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	r := do(t, ts, "GET", "/v1/grants", tst.WorkloadToken, "")
	r.wantError(t, 503, stint.EUNAVAILABLE, "not available")

	s2 := httpapi.NewServer() // no authenticator: nobody gets in
	ts2 := httptest.NewServer(s2.Handler())
	defer ts2.Close()
	do(t, ts2, "GET", "/v1/whoami", tst.WorkloadToken, "").wantError(t, 401, stint.EUNAUTHORIZED, "")
}

func TestServer_Handle(t *testing.T) {
	svc := &tst.Service{}
	ts := newServer(t, svc, func(s *httpapi.Server) {
		s.Handle("GET /v1/ssh/ca.pub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "ssh-ed25519 AAAA")
		}))
		s.HandleAuthenticated("GET /v1/report", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.WriteJSON(w, r, 200, map[string]string{"who": stint.PrincipalFromContext(r.Context()).Name})
		}))
	})
	if r := do(t, ts, "GET", "/v1/ssh/ca.pub", "", ""); r.Status != 200 || r.Raw != "ssh-ed25519 AAAA" {
		t.Fatalf("public route: %d %s", r.Status, r.Raw)
	}
	do(t, ts, "GET", "/v1/report", "", "").wantError(t, 401, stint.EUNAUTHORIZED, "")
	if r := do(t, ts, "GET", "/v1/report", tst.ApproverToken, ""); r.Status != 200 || r.Body["who"] != "alice@example.com" {
		t.Fatalf("authenticated route: %d %s", r.Status, r.Raw)
	}
}
