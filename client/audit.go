package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stint-io/stint"
)

// FindAudit returns audit records matching f, oldest first (GET /v1/audit).
// Page with f.AfterSeq set to the Seq of the last record received.
func (c *Client) FindAudit(ctx context.Context, f stint.AuditFilter) ([]*stint.AuditRecord, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	setIf(q, "grant", f.GrantID)
	if f.AfterSeq > 0 {
		q.Set("after_seq", strconv.FormatInt(f.AfterSeq, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Records []*stint.AuditRecord `json:"records"`
	}
	if err := c.Do(ctx, http.MethodGet, withQuery("/v1/audit", q), nil, &out); err != nil {
		return nil, err
	}
	if out.Records == nil {
		out.Records = []*stint.AuditRecord{}
	}
	return out.Records, nil
}

// VerifyAudit asks the server to check the audit chain. A broken chain is
// a result with OK false, not an error.
func (c *Client) VerifyAudit(ctx context.Context) (*stint.AuditVerifyResult, error) {
	var out stint.AuditVerifyResult
	if err := c.Do(ctx, http.MethodGet, "/v1/audit/verify", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

type explainBody struct {
	Principal string `json:"principal,omitempty"`
	Access    string `json:"access"`
	At        string `json:"at,omitempty"`
	TTL       string `json:"ttl,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Ticket    string `json:"ticket,omitempty"`
}

// decisionJSON is a Decision with the durations it does not encode itself.
type decisionJSON struct {
	stint.Decision
	TTL             stint.Duration `json:"ttl"`
	MaxTTL          stint.Duration `json:"max_ttl"`
	ApprovalTimeout stint.Duration `json:"approval_timeout"`
}

// Explain asks which policies match a principal and an access, and why
// each allows, needs approval or denies (POST /v1/policy/explain). A zero
// req.At is the server's now. Returns EINVALID for an unknown access.
func (c *Client) Explain(ctx context.Context, req stint.ExplainRequest) (*stint.Decision, error) {
	body := explainBody{Principal: req.Principal, Access: req.Access, TTL: formatTTL(time.Duration(req.TTL)),
		Reason: req.Reason, Ticket: req.Ticket}
	if !req.At.IsZero() {
		body.At = req.At.UTC().Format(time.RFC3339Nano)
	}
	var out decisionJSON
	if err := c.Do(ctx, http.MethodPost, "/v1/policy/explain", body, &out); err != nil {
		return nil, err
	}
	d := out.Decision
	d.TTL, d.MaxTTL = time.Duration(out.TTL), time.Duration(out.MaxTTL)
	if d.Approval != nil {
		d.Approval.Timeout = time.Duration(out.ApprovalTimeout)
	}
	return &d, nil
}
