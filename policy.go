package stint

import "time"

// AccessRequest is what a caller asks for. It is the `request` of CEL
// conditions (access, resource, role, ttl, reason, ticket, time).
type AccessRequest struct {
	Access string        `json:"access"` // "resource/role"
	TTL    time.Duration `json:"-"`      // 0: the policy default
	Reason string        `json:"reason,omitempty"`
	Ticket string        `json:"ticket,omitempty"`
	// SSHPublicKey is the caller's key for SSH certificates (optional).
	SSHPublicKey string `json:"ssh_public_key,omitempty"`
}

// Outcome is what a policy (or the whole configuration) says about a request.
type Outcome string

// Outcomes, from best to worst for the requester.
const (
	OutcomeAllow    Outcome = "allow"    // granted at once
	OutcomeApproval Outcome = "approval" // granted after approval
	OutcomeDeny     Outcome = "deny"
)

// PolicyResult is what one candidate policy said and why.
type PolicyResult struct {
	Policy  string  `json:"policy"`
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
	// Approvals is the number of approvals the policy needs (0 if none).
	Approvals int `json:"approvals,omitempty"`
}

// ApprovalRule is the approval block of the deciding policy.
type ApprovalRule struct {
	Approvers []string      `json:"approvers"` // "group:NAME" or subjects
	Count     int           `json:"count"`
	Timeout   time.Duration `json:"-"`
}

// Decision is the result of evaluating a request against the policies. It is
// a pure function of the configuration, the principal, the request, the open
// windows and the time.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	// Policy is the deciding policy ("" when denied).
	Policy string `json:"policy,omitempty"`
	// TTL is the granted duration, counted from activation; Clamped is set
	// when the request asked for more than the ceiling allows.
	TTL     time.Duration `json:"-"`
	MaxTTL  time.Duration `json:"-"`
	Clamped bool          `json:"clamped,omitempty"`
	// Window is the open window the grant is under, if any; the grant never
	// outlives Window.Closes.
	Window     *WindowRef    `json:"window,omitempty"`
	Approval   *ApprovalRule `json:"approval,omitempty"`
	BreakGlass bool          `json:"break_glass,omitempty"`
	// Reason sums up the decision; Results gives each candidate policy's answer.
	Reason  string         `json:"reason"`
	Results []PolicyResult `json:"policies"`
}
