package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// grantJSON is a grant answer: the grant's fields at the top level, plus
// the credential (only in the answer that issues it) and notes.
type grantJSON struct {
	*stint.Grant
	Credential *stint.Credential `json:"credential,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
}

// grantHistoryJSON is GET /v1/grants/{id}?history=1.
type grantHistoryJSON struct {
	*stint.Grant
	History []*stint.AuditRecord `json:"history"`
}

type grantListJSON struct {
	Grants     []*stint.Grant `json:"grants"`
	NextCursor string         `json:"next_cursor"`
}

type requestGrantBody struct {
	Access       string          `json:"access"`
	TTL          json.RawMessage `json:"ttl"`
	Reason       string          `json:"reason"`
	Ticket       string          `json:"ticket"`
	SSHPublicKey string          `json:"ssh_public_key"`
}

func (s *Server) handleRequestGrant(w http.ResponseWriter, r *http.Request) {
	var body requestGrantBody
	if err := decodeJSON(w, r, &body, false); err != nil {
		s.WriteError(w, r, err)
		return
	}
	ttl, err := parseTTL("ttl", body.TTL)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	res, err := s.Grants.RequestGrant(r.Context(), stint.GrantRequest{AccessRequest: stint.AccessRequest{
		Access: body.Access, TTL: ttl, Reason: body.Reason, Ticket: body.Ticket, SSHPublicKey: body.SSHPublicKey,
	}})
	s.writeResult(w, r, http.StatusCreated, res, err)
}

// writeResult answers with a GrantResult, or with err and the grant the
// result still carries (a denied request).
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, status int, res *stint.GrantResult, err error) {
	if err != nil {
		var g *stint.Grant
		if res != nil {
			g = res.Grant
		}
		s.writeErrorGrant(w, r, err, g)
		return
	}
	if res == nil || res.Grant == nil {
		s.WriteError(w, r, stint.Errorf(stint.EINTERNAL, "grant service returned no grant"))
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", "/v1/grants/"+url.PathEscape(res.Grant.ID))
	}
	s.WriteJSON(w, r, status, grantJSON{Grant: res.Grant, Credential: res.Credential, Notes: res.Notes})
}

// writeGrant answers with a grant, or with err and the grant if there is one
// (a revocation that failed and is being retried).
func (s *Server) writeGrant(w http.ResponseWriter, r *http.Request, g *stint.Grant, err error) {
	if err != nil {
		s.writeErrorGrant(w, r, err, g)
		return
	}
	s.writeResult(w, r, http.StatusOK, &stint.GrantResult{Grant: g}, nil)
}

func (s *Server) handleListGrants(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "state", "principal", "access", "id", "limit", "cursor", "mine", "review", "break_glass")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	f := stint.GrantFilter{Principal: q.Get("principal"), Access: q.Get("access"), Cursor: q.Get("cursor")}
	for name, dst := range map[string]*bool{"mine": &f.Decidable, "review": &f.Review, "break_glass": &f.BreakGlass} {
		if *dst, err = boolParam(q.Get(name), name); err != nil {
			s.WriteError(w, r, err)
			return
		}
	}
	for _, v := range splitList(q["state"]) {
		st := stint.State(v)
		if !st.Valid() {
			s.WriteError(w, r, stint.Errorf(stint.EINVALID, "state: unknown state %q (want one of %s)", v, stateNames()))
			return
		}
		f.State = append(f.State, st)
	}
	for _, id := range splitList(q["id"]) {
		if !stint.ValidID(id) {
			s.WriteError(w, r, errBadID("id"))
			return
		}
		f.IDs = append(f.IDs, id)
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit"); err != nil {
		s.WriteError(w, r, err)
		return
	}
	grants, next, err := s.Grants.FindGrants(r.Context(), f)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if grants == nil {
		grants = []*stint.Grant{}
	}
	s.WriteJSON(w, r, http.StatusOK, grantListJSON{Grants: grants, NextCursor: next})
}

func (s *Server) handleGetGrant(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "history")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	history, err := boolParam(q.Get("history"), "history")
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	g, err := s.Grants.FindGrant(r.Context(), id)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if !history {
		s.writeGrant(w, r, g, nil)
		return
	}
	recs, err := s.Grants.GrantHistory(r.Context(), id)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	if recs == nil {
		recs = []*stint.AuditRecord{}
	}
	s.WriteJSON(w, r, http.StatusOK, grantHistoryJSON{Grant: g, History: recs})
}

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Comment string `json:"comment"`
	}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	res, err := s.Grants.ApproveGrant(r.Context(), id, body.Comment)
	s.writeResult(w, r, http.StatusOK, res, err)
}

func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	var body struct{}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	res, err := s.Grants.ActivateGrant(r.Context(), id)
	s.writeResult(w, r, http.StatusOK, res, err)
}

func (s *Server) handleReject(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	g, err := s.Grants.RejectGrant(r.Context(), id, body.Reason)
	s.writeGrant(w, r, g, err)
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
		Force  bool   `json:"force"`
	}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	g, err := s.Grants.RevokeGrant(r.Context(), id, body.Reason, body.Force)
	s.writeGrant(w, r, g, err)
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TTL json.RawMessage `json:"ttl"`
	}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	ttl, err := parseTTL("ttl", body.TTL)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	res, err := s.Grants.RenewGrant(r.Context(), id, ttl)
	s.writeResult(w, r, http.StatusOK, res, err)
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	var body struct{}
	id, ok := s.transition(w, r, &body)
	if !ok {
		return
	}
	g, err := s.Grants.CancelGrant(r.Context(), id)
	s.writeGrant(w, r, g, err)
}

// transition reads the id and the optional body of a transition; on a
// problem it answers and returns false.
func (s *Server) transition(w http.ResponseWriter, r *http.Request, body any) (string, bool) {
	id, err := pathID(r)
	if err == nil {
		_, err = query(r)
	}
	if err == nil {
		err = decodeJSON(w, r, body, true)
	}
	if err != nil {
		s.WriteError(w, r, err)
		return "", false
	}
	return id, true
}

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !stint.ValidID(id) {
		return "", errBadID("grant id")
	}
	return id, nil
}

func errBadID(what string) error {
	return stint.Errorf(stint.EINVALID, "%s: not a grant id (26 characters of 0-9 and a-z)", what)
}

// parseTTL reads a duration field: a string such as "15m" or "7d", or a
// number of seconds. Absent, null or "" is 0 (the policy default).
func parseTTL(field string, raw json.RawMessage) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return 0, nil
	}
	var d stint.Duration
	if err := d.UnmarshalJSON(raw); err != nil {
		return 0, stint.Errorf(stint.EINVALID, "%s: %v", field, err)
	}
	return time.Duration(d), nil
}

// query returns the query parameters of r, rejecting any not in allowed so
// that a misspelt filter is an error rather than a silently wider answer.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			if len(allowed) == 0 {
				return nil, stint.Errorf(stint.EINVALID, "unknown query parameter %q", k)
			}
			return nil, stint.Errorf(stint.EINVALID, "unknown query parameter %q (want %s)", k, strings.Join(allowed, ", "))
		}
	}
	return q, nil
}

// splitList flattens repeated and comma-separated values.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, stint.Errorf(stint.EINVALID, "%s: must be a non-negative integer", name)
	}
	return n, nil
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, stint.Errorf(stint.EINVALID, "%s: must be 1, 0, true or false", name)
	}
	return b, nil
}

func stateNames() string {
	names := make([]string, len(stint.States))
	for i, st := range stint.States {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
