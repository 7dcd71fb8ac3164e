package stint

import (
	"context"
	"time"
)

// GrantRequest is a request for access by the principal in the context.
type GrantRequest struct {
	AccessRequest
}

// GrantResult is the answer to a request: the grant, and the credential when
// it is active. Notes carry remarks such as a clamped TTL.
type GrantResult struct {
	Grant      *Grant      `json:"grant"`
	Credential *Credential `json:"credential,omitempty"`
	Notes      []string    `json:"notes,omitempty"`
}

// GrantService is the grant lifecycle as seen by a caller. The acting
// principal comes from the context (NewContextWithPrincipal). The broker
// implements it over the store and providers; the client SDK implements it
// over HTTP.
type GrantService interface {
	// RequestGrant asks for access. A denied request returns the denied
	// grant together with an EDENIED error. Returns EINVALID for bad input.
	RequestGrant(ctx context.Context, req GrantRequest) (*GrantResult, error)
	// FindGrant returns a grant the caller may see. ENOTFOUND otherwise.
	FindGrant(ctx context.Context, id string) (*Grant, error)
	// FindGrants lists grants the caller may see, newest first.
	FindGrants(ctx context.Context, f GrantFilter) ([]*Grant, string, error)
	// GrantHistory returns the audit records of a grant, oldest first.
	GrantHistory(ctx context.Context, id string) ([]*AuditRecord, error)
	// ApproveGrant records the caller's approval. EDENIED if the caller may
	// not decide; ECONFLICT if the grant is not pending.
	ApproveGrant(ctx context.Context, id, comment string) (*GrantResult, error)
	// ActivateGrant issues the caller's fully approved request and returns
	// the credential: the only time it is returned, and only to the
	// requester. ECONFLICT if approvals are missing or it was collected.
	ActivateGrant(ctx context.Context, id string) (*GrantResult, error)
	// RejectGrant records the caller's rejection, ending the request.
	RejectGrant(ctx context.Context, id, reason string) (*Grant, error)
	// RenewGrant extends an active grant by ttl (0: the policy default) from
	// now, within its max_ttl and window.
	RenewGrant(ctx context.Context, id string, ttl time.Duration) (*GrantResult, error)
	// RevokeGrant ends a grant now. It returns when the provider confirmed
	// (state revoked) or failed (state revoking, with an EUNAVAILABLE error).
	// force (admins only) closes a grant whose revocation keeps failing.
	RevokeGrant(ctx context.Context, id, reason string, force bool) (*Grant, error)
	// CancelGrant withdraws the caller's pending or scheduled request.
	CancelGrant(ctx context.Context, id string) (*Grant, error)
}

// AuditVerifyResult is the outcome of checking the audit chain.
type AuditVerifyResult struct {
	OK      bool   `json:"ok"`
	Records int64  `json:"records"`
	LastSeq int64  `json:"last_seq"`
	BadSeq  int64  `json:"bad_seq,omitempty"` // the first bad record
	Problem string `json:"problem,omitempty"`
}

// AuditService reads and verifies the audit trail.
type AuditService interface {
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error)
	VerifyAudit(ctx context.Context) (*AuditVerifyResult, error)
}

// ExplainRequest asks which policies match a principal and an access.
type ExplainRequest struct {
	Principal string    `json:"principal"`
	Access    string    `json:"access"`
	At        time.Time `json:"at"`
	TTL       Duration  `json:"ttl,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Ticket    string    `json:"ticket,omitempty"`
}

// PolicyService explains policy decisions.
type PolicyService interface {
	Explain(ctx context.Context, req ExplainRequest) (*Decision, error)
}
