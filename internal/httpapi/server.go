// Package httpapi serves the Stint HTTP API (CONTRACT.md section 4): JSON
// over net/http, bearer-token authentication, error codes mapped to
// statuses, request logging and metrics.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
)

// Server is the HTTP API. Set its fields, then call Handler once. Nil
// services answer EUNAVAILABLE; a nil Auth authenticates no one.
type Server struct {
	Grants stint.GrantService
	Audit  stint.AuditService
	Policy stint.PolicyService
	Auth   authn.Authenticator

	Logger *slog.Logger
	Clock  stint.Clock
	// Registry, if set, serves /metrics and gets the HTTP request series.
	Registry *prometheus.Registry
	// Ready reports readiness for /readyz (nil: always ready).
	Ready func(ctx context.Context) error
	// JWKS returns the token provider's public keys for
	// /.well-known/jwks.json (nil: 404).
	JWKS func() ([]byte, error)
	// Introspect verifies a Stint-issued token and returns its claims
	// (RFC 7662). An error with code EUNAVAILABLE or EINTERNAL is an error
	// answer; any other error, or nil claims, means the token is inactive.
	Introspect func(ctx context.Context, token string) (map[string]any, error)

	once    sync.Once
	handler http.Handler
	mux     *http.ServeMux
	extra   []extraRoute
	metrics *httpMetrics
}

type extraRoute struct {
	pattern string
	h       http.Handler
	auth    bool
}

// NewServer returns a Server with a discarding logger and the system clock.
func NewServer() *Server {
	return &Server{Logger: slog.New(slog.DiscardHandler), Clock: stint.SystemClock}
}

// Handle registers h for a ServeMux pattern (such as "GET /v1/ssh/ca.pub")
// without authentication; the request is still logged, counted and
// protected from panics. Call it before Handler.
func (s *Server) Handle(pattern string, h http.Handler) { s.addRoute(pattern, h, false) }

// HandleAuthenticated registers h for a ServeMux pattern behind bearer
// authentication: h finds the principal with stint.PrincipalFromContext.
// Call it before Handler.
func (s *Server) HandleAuthenticated(pattern string, h http.Handler) { s.addRoute(pattern, h, true) }

func (s *Server) addRoute(pattern string, h http.Handler, auth bool) {
	if s.handler != nil {
		panic("httpapi: route " + pattern + " added after Handler was called")
	}
	s.extra = append(s.extra, extraRoute{pattern: pattern, h: h, auth: auth})
}

// Handler returns the API's handler. It is built on the first call.
func (s *Server) Handler() http.Handler {
	s.once.Do(s.build)
	return s.handler
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) build() {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Clock == nil {
		s.Clock = stint.SystemClock
	}
	if s.Auth == nil {
		s.Auth = authn.Chain{}
	}
	if s.Grants == nil {
		s.Grants = unavailable{}
	}
	if s.Audit == nil {
		s.Audit = unavailable{}
	}
	if s.Policy == nil {
		s.Policy = unavailable{}
	}
	if s.Registry != nil {
		s.metrics = newHTTPMetrics(s.Registry)
	}

	mux := http.NewServeMux()
	s.mux = mux
	auth := s.authenticated

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)

	mux.Handle("POST /v1/grants", auth(s.handleRequestGrant))
	mux.Handle("GET /v1/grants", auth(s.handleListGrants))
	mux.Handle("GET /v1/grants/{id}", auth(s.handleGetGrant))
	mux.Handle("POST /v1/grants/{id}/approve", auth(s.handleApprove))
	mux.Handle("POST /v1/grants/{id}/activate", auth(s.handleActivate))
	mux.Handle("POST /v1/grants/{id}/reject", auth(s.handleReject))
	mux.Handle("POST /v1/grants/{id}/revoke", auth(s.handleRevoke))
	mux.Handle("POST /v1/grants/{id}/renew", auth(s.handleRenew))
	mux.Handle("POST /v1/grants/{id}/cancel", auth(s.handleCancel))
	mux.Handle("GET /v1/audit", auth(s.handleAudit))
	mux.Handle("GET /v1/audit/verify", auth(s.handleAuditVerify))
	mux.Handle("POST /v1/policy/explain", auth(s.handleExplain))
	mux.Handle("GET /v1/whoami", auth(s.handleWhoAmI))
	mux.Handle("POST /v1/tokens/introspect", auth(s.handleIntrospect))

	root := false
	for _, e := range s.extra {
		h := e.h
		if e.auth {
			h = auth(h.ServeHTTP)
		}
		mux.Handle(e.pattern, h)
		root = root || e.pattern == "/"
	}
	// Unknown paths answer JSON 404 or 405; under /v1 only after
	// authentication, so that the API does not answer strangers.
	mux.Handle("/v1/", auth(s.handleNoRoute))
	if !root {
		mux.HandleFunc("/", s.handleNoRoute)
	}
	s.handler = http.HandlerFunc(s.serve)
}

// requestInfo carries what the logging middleware learns from the handlers.
type requestInfo struct{ principal string }

type requestInfoKey struct{}

// serve logs, counts and recovers every request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := s.Clock.Now()
	rw := &responseWriter{ResponseWriter: w}
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.LogAttrs(r.Context(), slog.LevelError, "panic in handler",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if !rw.wrote {
				s.WriteError(rw, r, stint.Errorf(stint.EINTERNAL, "panic"))
			}
		}
		d := s.Clock.Now().Sub(start)
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.Logger.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Duration("duration", d),
			slog.String("principal", info.principal))
		if s.metrics != nil {
			s.metrics.observe(r, status, d)
		}
	}()
	s.mux.ServeHTTP(rw, r)
}

// authenticated wraps h with bearer authentication.
func (s *Server) authenticated(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		token, ok := bearerToken(r)
		if !ok {
			s.WriteError(w, r, stint.Errorf(stint.EUNAUTHORIZED, "missing bearer token (Authorization: Bearer TOKEN)"))
			return
		}
		p, err := s.Auth.Authenticate(r.Context(), token)
		if err != nil || p == nil {
			switch stint.ErrorCode(err) {
			case stint.EUNAVAILABLE, stint.EUNAUTHORIZED:
			default:
				err = stint.Errorf(stint.EUNAUTHORIZED, "invalid token")
			}
			s.WriteError(w, r, err)
			return
		}
		if info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo); info != nil {
			info.principal = p.Name
		}
		h(w, r.WithContext(stint.NewContextWithPrincipal(r.Context(), p)))
	})
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// handleNoRoute answers 405 when the path exists with other methods, 404
// otherwise.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := *r
		r2.Method = m
		if _, p := s.mux.Handler(&r2); p != "" && p != "/" && p != "/v1/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.WriteJSON(w, r, http.StatusMethodNotAllowed, errorResponse{Error: errorDetail{
			Code: stint.EINVALID, Message: "method " + r.Method + " not allowed; use " + strings.Join(allow, " or ")}})
		return
	}
	s.WriteError(w, r, stint.Errorf(stint.ENOTFOUND, "no such endpoint"))
}

// responseWriter records the status for logs and metrics.
type responseWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *responseWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for streaming handlers.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wrote {
			w.status, w.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

// unavailable stands in for a service the server was built without.
type unavailable struct{}

func (unavailable) err() error {
	return stint.Errorf(stint.EUNAVAILABLE, "not available on this server")
}

func (u unavailable) RequestGrant(context.Context, stint.GrantRequest) (*stint.GrantResult, error) {
	return nil, u.err()
}
func (u unavailable) FindGrant(context.Context, string) (*stint.Grant, error) { return nil, u.err() }
func (u unavailable) FindGrants(context.Context, stint.GrantFilter) ([]*stint.Grant, string, error) {
	return nil, "", u.err()
}
func (u unavailable) GrantHistory(context.Context, string) ([]*stint.AuditRecord, error) {
	return nil, u.err()
}
func (u unavailable) ApproveGrant(context.Context, string, string) (*stint.GrantResult, error) {
	return nil, u.err()
}
func (u unavailable) ActivateGrant(context.Context, string) (*stint.GrantResult, error) {
	return nil, u.err()
}
func (u unavailable) RejectGrant(context.Context, string, string) (*stint.Grant, error) {
	return nil, u.err()
}
func (u unavailable) RenewGrant(context.Context, string, time.Duration) (*stint.GrantResult, error) {
	return nil, u.err()
}
func (u unavailable) RevokeGrant(context.Context, string, string, bool) (*stint.Grant, error) {
	return nil, u.err()
}
func (u unavailable) CancelGrant(context.Context, string) (*stint.Grant, error) { return nil, u.err() }
func (u unavailable) FindAudit(context.Context, stint.AuditFilter) ([]*stint.AuditRecord, error) {
	return nil, u.err()
}
func (u unavailable) VerifyAudit(context.Context) (*stint.AuditVerifyResult, error) {
	return nil, u.err()
}
func (u unavailable) Explain(context.Context, stint.ExplainRequest) (*stint.Decision, error) {
	return nil, u.err()
}
