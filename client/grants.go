package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// grantJSON is a grant answer: the grant's fields at the top level plus
// credential, notes and history.
type grantJSON struct {
	stint.Grant
	Credential *stint.Credential    `json:"credential"`
	Notes      []string             `json:"notes"`
	History    []*stint.AuditRecord `json:"history"`
}

func (g *grantJSON) result() *stint.GrantResult {
	grant := g.Grant
	return &stint.GrantResult{Grant: &grant, Credential: g.Credential, Notes: g.Notes}
}

type requestGrantBody struct {
	Access       string `json:"access"`
	TTL          string `json:"ttl,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Ticket       string `json:"ticket,omitempty"`
	SSHPublicKey string `json:"ssh_public_key,omitempty"`
}

func formatTTL(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return stint.FormatDuration(d)
}

// RequestGrant asks for access as the client's principal (POST /v1/grants).
// The result carries the credential when the grant is active. A denied
// request returns the denied grant in the result together with an EDENIED
// error. Returns EINVALID for bad input.
func (c *Client) RequestGrant(ctx context.Context, req stint.GrantRequest) (*stint.GrantResult, error) {
	body := requestGrantBody{Access: req.Access, TTL: formatTTL(req.TTL), Reason: req.Reason,
		Ticket: req.Ticket, SSHPublicKey: req.SSHPublicKey}
	return c.grantResult(ctx, "/v1/grants", body)
}

// grantResult posts body to path and decodes a grant answer; an error
// answer that carries a grant returns it in the result with the error.
func (c *Client) grantResult(ctx context.Context, path string, body any) (*stint.GrantResult, error) {
	var out grantJSON
	g, err := c.do(ctx, http.MethodPost, path, body, &out, true)
	if err != nil {
		if g != nil {
			return &stint.GrantResult{Grant: g}, err
		}
		return nil, err
	}
	return out.result(), nil
}

// grant posts body to path and decodes a grant; an error answer that
// carries a grant returns it with the error.
func (c *Client) grant(ctx context.Context, path string, body any) (*stint.Grant, error) {
	res, err := c.grantResult(ctx, path, body)
	if res == nil {
		return nil, err
	}
	return res.Grant, err
}

func grantPath(id string, action string) (string, error) {
	if id == "" {
		return "", stint.Errorf(stint.EINVALID, "grant id required")
	}
	p := "/v1/grants/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p, nil
}

// FindGrant returns a grant. Returns ENOTFOUND if it does not exist or the
// caller may not see it.
func (c *Client) FindGrant(ctx context.Context, id string) (*stint.Grant, error) {
	p, err := grantPath(id, "")
	if err != nil {
		return nil, err
	}
	var out grantJSON
	if err := c.Do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, err
	}
	return &out.Grant, nil
}

// FindGrantWithHistory returns a grant and its audit records, oldest first
// (GET /v1/grants/{id}?history=1). Returns ENOTFOUND like FindGrant.
func (c *Client) FindGrantWithHistory(ctx context.Context, id string) (*stint.Grant, []*stint.AuditRecord, error) {
	p, err := grantPath(id, "")
	if err != nil {
		return nil, nil, err
	}
	var out grantJSON
	if err := c.Do(ctx, http.MethodGet, p+"?history=1", nil, &out); err != nil {
		return nil, nil, err
	}
	if out.History == nil {
		out.History = []*stint.AuditRecord{}
	}
	return &out.Grant, out.History, nil
}

// GrantHistory returns the audit records of a grant, oldest first.
func (c *Client) GrantHistory(ctx context.Context, id string) ([]*stint.AuditRecord, error) {
	_, recs, err := c.FindGrantWithHistory(ctx, id)
	return recs, err
}

// FindGrants lists grants the caller may see, newest first, and returns
// the cursor of the next page ("" on the last). Returns EINVALID for a bad
// filter or cursor.
func (c *Client) FindGrants(ctx context.Context, f stint.GrantFilter) ([]*stint.Grant, string, error) {
	q := url.Values{}
	if len(f.State) > 0 {
		states := make([]string, len(f.State))
		for i, s := range f.State {
			states[i] = string(s)
		}
		q.Set("state", strings.Join(states, ","))
	}
	setIf(q, "principal", f.Principal)
	setIf(q, "access", f.Access)
	setIf(q, "id", strings.Join(f.IDs, ","))
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	setIf(q, "cursor", f.Cursor)
	for name, on := range map[string]bool{"mine": f.Decidable, "review": f.Review, "break_glass": f.BreakGlass} {
		if on {
			q.Set(name, "true")
		}
	}
	var out struct {
		Grants     []*stint.Grant `json:"grants"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := c.Do(ctx, http.MethodGet, withQuery("/v1/grants", q), nil, &out); err != nil {
		return nil, "", err
	}
	if out.Grants == nil {
		out.Grants = []*stint.Grant{}
	}
	return out.Grants, out.NextCursor, nil
}

// ApproveGrant records the caller's approval. Returns EDENIED if the caller
// may not decide, ECONFLICT if the grant is not pending, ENOTFOUND.
func (c *Client) ApproveGrant(ctx context.Context, id, comment string) (*stint.GrantResult, error) {
	p, err := grantPath(id, "approve")
	if err != nil {
		return nil, err
	}
	return c.grantResult(ctx, p, struct {
		Comment string `json:"comment,omitempty"`
	}{comment})
}

// ActivateGrant collects the credential of the caller's fully approved
// request. Returns ECONFLICT if approvals are missing or it was collected.
func (c *Client) ActivateGrant(ctx context.Context, id string) (*stint.GrantResult, error) {
	p, err := grantPath(id, "activate")
	if err != nil {
		return nil, err
	}
	return c.grantResult(ctx, p, struct{}{})
}

// RejectGrant records the caller's rejection, ending the request. Returns
// EDENIED, ECONFLICT or ENOTFOUND like ApproveGrant.
func (c *Client) RejectGrant(ctx context.Context, id, reason string) (*stint.Grant, error) {
	p, err := grantPath(id, "reject")
	if err != nil {
		return nil, err
	}
	return c.grant(ctx, p, struct {
		Reason string `json:"reason,omitempty"`
	}{reason})
}

// RenewGrant extends an active grant by ttl (0: the policy default) from
// now, within its max_ttl and window. Returns ECONFLICT if the grant is not
// active, EINVALID if it cannot be renewed.
func (c *Client) RenewGrant(ctx context.Context, id string, ttl time.Duration) (*stint.GrantResult, error) {
	p, err := grantPath(id, "renew")
	if err != nil {
		return nil, err
	}
	return c.grantResult(ctx, p, struct {
		TTL string `json:"ttl,omitempty"`
	}{formatTTL(ttl)})
}

// RevokeGrant ends a grant now. When the provider failed, it returns the
// grant (state revoking) together with the EUNAVAILABLE error. force
// (admins only) closes a grant whose revocation keeps failing.
func (c *Client) RevokeGrant(ctx context.Context, id, reason string, force bool) (*stint.Grant, error) {
	p, err := grantPath(id, "revoke")
	if err != nil {
		return nil, err
	}
	return c.grant(ctx, p, struct {
		Reason string `json:"reason,omitempty"`
		Force  bool   `json:"force,omitempty"`
	}{reason, force})
}

// CancelGrant withdraws the caller's pending or scheduled request. Returns
// ECONFLICT if the grant is in another state.
func (c *Client) CancelGrant(ctx context.Context, id string) (*stint.Grant, error) {
	p, err := grantPath(id, "cancel")
	if err != nil {
		return nil, err
	}
	return c.grant(ctx, p, nil)
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
