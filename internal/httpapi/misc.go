package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/stint-io/stint"
)

type auditListJSON struct {
	Records []*stint.AuditRecord `json:"records"`
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "since", "grant", "after_seq", "limit")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	var f stint.AuditFilter
	if f.Since, err = s.parseSince(q.Get("since")); err != nil {
		s.WriteError(w, r, err)
		return
	}
	if f.GrantID = q.Get("grant"); f.GrantID != "" && !stint.ValidID(f.GrantID) {
		s.WriteError(w, r, errBadID("grant"))
		return
	}
	if v := q.Get("after_seq"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			s.WriteError(w, r, stint.Errorf(stint.EINVALID, "after_seq: must be a non-negative integer"))
			return
		}
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit"); err != nil {
		s.WriteError(w, r, err)
		return
	}
	recs, err := s.Audit.FindAudit(r.Context(), f)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if recs == nil {
		recs = []*stint.AuditRecord{}
	}
	s.WriteJSON(w, r, http.StatusOK, auditListJSON{Records: recs})
}

// parseSince reads an RFC 3339 time, a date (UTC), or a duration back from
// now ("24h", "7d"). "" is the zero time.
func (s *Server) parseSince(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := stint.ParseDuration(v); err == nil {
		return s.Clock.Now().Add(-d).UTC(), nil
	}
	return time.Time{}, stint.Errorf(stint.EINVALID,
		"since: want an RFC 3339 time, a date (2006-01-02) or a duration such as 24h or 7d")
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.WriteError(w, r, err)
		return
	}
	res, err := s.Audit.VerifyAudit(r.Context())
	if err == nil && res == nil {
		err = stint.Errorf(stint.EINTERNAL, "audit service returned no result")
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	s.WriteJSON(w, r, http.StatusOK, res)
}

// explainBody is POST /v1/policy/explain; "at" is RFC 3339 (empty: now).
type explainBody struct {
	Principal string          `json:"principal"`
	Access    string          `json:"access"`
	At        string          `json:"at"`
	TTL       json.RawMessage `json:"ttl"`
	Reason    string          `json:"reason"`
	Ticket    string          `json:"ticket"`
}

// decisionJSON adds the durations that stint.Decision does not encode.
type decisionJSON struct {
	*stint.Decision
	TTL             stint.Duration `json:"ttl"`
	MaxTTL          stint.Duration `json:"max_ttl,omitempty"`
	ApprovalTimeout stint.Duration `json:"approval_timeout,omitempty"`
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) {
	var body explainBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		s.WriteError(w, r, err)
		return
	}
	req := stint.ExplainRequest{Principal: body.Principal, Access: body.Access, Reason: body.Reason, Ticket: body.Ticket}
	ttl, err := parseTTL("ttl", body.TTL)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	req.TTL = stint.Duration(ttl)
	if body.At != "" {
		if req.At, err = time.Parse(time.RFC3339Nano, body.At); err != nil {
			s.WriteError(w, r, stint.Errorf(stint.EINVALID, "at: want an RFC 3339 time such as 2025-01-02T15:04:05Z"))
			return
		}
	}
	if req.At.IsZero() {
		req.At = s.Clock.Now()
	}
	req.At = req.At.UTC()
	d, err := s.Policy.Explain(r.Context(), req)
	if err == nil && d == nil {
		err = stint.Errorf(stint.EINTERNAL, "policy service returned no decision")
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	out := decisionJSON{Decision: d, TTL: stint.Duration(d.TTL), MaxTTL: stint.Duration(d.MaxTTL)}
	if d.Approval != nil {
		out.ApprovalTimeout = stint.Duration(d.Approval.Timeout)
	}
	s.WriteJSON(w, r, http.StatusOK, out)
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	s.WriteJSON(w, r, http.StatusOK, stint.PrincipalFromContext(r.Context()))
}

// handleIntrospect is RFC 7662 token introspection: the token comes as the
// form parameter "token" (or JSON {"token"}); the answer is {"active":
// false} for any token that is not valid now, else its claims and
// "active": true.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	token, err := introspectToken(w, r)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	inactive := map[string]any{"active": false}
	if s.Introspect == nil {
		s.WriteJSON(w, r, http.StatusOK, inactive)
		return
	}
	claims, err := s.Introspect(r.Context(), token)
	if err != nil {
		if stint.ErrorCode(err) == stint.EUNAVAILABLE {
			s.WriteError(w, r, err)
			return
		}
		s.logger().LogAttrs(r.Context(), slog.LevelDebug, "introspection: inactive token", slog.String("why", stint.ErrorMessage(err)))
		s.WriteJSON(w, r, http.StatusOK, inactive)
		return
	}
	if claims == nil {
		s.WriteJSON(w, r, http.StatusOK, inactive)
		return
	}
	out := make(map[string]any, len(claims)+1)
	for k, v := range claims {
		out[k] = v
	}
	out["active"] = true
	s.WriteJSON(w, r, http.StatusOK, out)
}

func introspectToken(w http.ResponseWriter, r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return "", stint.Errorf(stint.EINVALID, "malformed Content-Type")
		}
	}
	var token string
	switch mt {
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
		if err := r.ParseForm(); err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				return "", jsonError(err)
			}
			return "", stint.Errorf(stint.EINVALID, "malformed form body")
		}
		token = r.PostForm.Get("token")
	case "application/json", "":
		var body struct {
			Token         string `json:"token"`
			TokenTypeHint string `json:"token_type_hint"`
		}
		if err := decodeJSON(w, r, &body, false); err != nil {
			return "", err
		}
		token = body.Token
	default:
		return "", &statusError{status: http.StatusUnsupportedMediaType, err: stint.Errorf(stint.EINVALID,
			"unsupported Content-Type %q; use application/x-www-form-urlencoded or application/json", mt)}
	}
	if token == "" {
		return "", stint.Errorf(stint.EINVALID, "token: required")
	}
	return token, nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.WriteJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.logger().LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.Any("err", err))
			s.WriteJSON(w, r, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable",
				"error":  errorDetail{Code: stint.EUNAVAILABLE, Message: "not ready"},
			})
			return
		}
	}
	s.WriteJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if s.JWKS == nil {
		s.WriteError(w, r, stint.Errorf(stint.ENOTFOUND, "no token signing keys on this server"))
		return
	}
	b, err := s.JWKS()
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}
