package stint

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
)

// State is the state of a grant.
type State string

// Grant states. See CONTRACT.md section 1.
const (
	StatePending   State = "pending"   // waiting for approval
	StateScheduled State = "scheduled" // opens in the future (window provisioning)
	StateIssuing   State = "issuing"   // intent: the provider is being asked to issue
	StateActive    State = "active"    // issued, not yet expired
	StateRevoking  State = "revoking"  // intent: revocation not yet confirmed by the provider
	StateExpired   State = "expired"   // ended at its expiry
	StateRevoked   State = "revoked"   // ended early by someone
	StateDenied    State = "denied"    // policy said no
	StateRejected  State = "rejected"  // an approver said no
	StateCancelled State = "cancelled" // withdrawn, or approval timed out
	StateFailed    State = "failed"    // the provider could not issue
)

// States lists every state, in lifecycle order.
var States = []State{
	StatePending, StateScheduled, StateIssuing, StateActive, StateRevoking,
	StateExpired, StateRevoked, StateDenied, StateRejected, StateCancelled, StateFailed,
}

// transitions lists the states each state may move to.
var transitions = map[State][]State{
	StatePending:   {StateIssuing, StateRejected, StateCancelled, StateScheduled},
	StateScheduled: {StateIssuing, StateCancelled},
	StateIssuing:   {StateActive, StateFailed, StateRevoking},
	StateActive:    {StateRevoking},
	StateRevoking:  {StateExpired, StateRevoked},
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s.Valid() && len(transitions[s]) == 0 }

// CanTransition reports whether a grant may move from s to to.
func (s State) CanTransition(to State) bool {
	for _, v := range transitions[s] {
		if v == to {
			return true
		}
	}
	return false
}

// Approval is one approver's decision on a grant.
type Approval struct {
	By       string    `json:"by"`
	Decision string    `json:"decision"` // "approved" or "rejected"
	At       time.Time `json:"at"`
	Comment  string    `json:"comment,omitempty"`
}

// WindowRef names the window a grant was given under.
type WindowRef struct {
	Policy string    `json:"policy"`
	Key    string    `json:"key,omitempty"` // event key for event windows
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"`
}

// Revocation modes a provider declares.
const (
	RevocationEarly      = "early"       // the provider can cut access before expiry
	RevocationExpiryOnly = "expiry-only" // access lapses only at the credential's native expiry
)

// Grant is one instance of access: the lease.
type Grant struct {
	ID            string `json:"id"`
	Principal     string `json:"principal"`
	PrincipalKind string `json:"principal_kind"`
	Access        string `json:"access"` // "resource/role"
	State         State  `json:"state"`
	Policy        string `json:"policy"`
	Reason        string `json:"reason"`
	Ticket        string `json:"ticket"`

	// RequestedTTL is what the requester asked for (0: the policy default).
	// TTL is what was granted, counted from activation.
	RequestedTTL Duration `json:"requested_ttl,omitempty"`
	TTL          Duration `json:"ttl"`
	// MaxTTL is the ceiling of the grant's life since activation, renewals included.
	MaxTTL Duration `json:"max_ttl,omitempty"`

	RequestedAt time.Time  `json:"requested_at"`
	ActivatedAt *time.Time `json:"activated_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	EndedAt     *time.Time `json:"ended_at"`

	Approvals         []Approval `json:"approvals"`
	ApprovalsRequired int        `json:"approvals_required,omitempty"`
	Approvers         []string   `json:"approvers,omitempty"`
	// ApprovalDeadline is when a pending grant times out (zero: never).
	ApprovalDeadline *time.Time `json:"approval_deadline,omitempty"`

	Window     *WindowRef `json:"window"`
	BreakGlass bool       `json:"break_glass,omitempty"`

	// Provider is the provider type of the resource; Revocation its declared
	// revocation mode (RevocationEarly or RevocationExpiryOnly).
	Provider   string `json:"provider"`
	Revocation string `json:"revocation"`

	// Detail explains the state: why denied, why failed, the last revocation error.
	Detail string `json:"detail,omitempty"`
	// EndState is the terminal state a revoking grant moves to once the
	// provider confirms (expired or revoked).
	EndState State `json:"end_state,omitempty"`
	// Attempts counts failed revocation attempts.
	Attempts int `json:"revoke_attempts,omitempty"`

	// ProviderData is provider-owned, non-secret state (a role name, a key id).
	ProviderData map[string]string `json:"provider_data,omitempty"`

	// DueAt is when the expiry engine must next act on the grant: the expiry
	// of an active grant, the retry of a revoking one, the approval deadline
	// of a pending one, the start of a scheduled one. Nil when nothing is due.
	DueAt *time.Time `json:"-"`
	// Version increments at each update; stores use it for compare-and-set.
	Version int64 `json:"-"`
}

// Resource returns the resource part of g.Access.
func (g *Grant) Resource() string { r, _ := SplitAccess(g.Access); return r }

// Role returns the role part of g.Access.
func (g *Grant) Role() string { _, r := SplitAccess(g.Access); return r }

// Clone returns a deep copy of g.
func (g *Grant) Clone() *Grant {
	c := *g
	c.ActivatedAt = cloneTime(g.ActivatedAt)
	c.ExpiresAt = cloneTime(g.ExpiresAt)
	c.EndedAt = cloneTime(g.EndedAt)
	c.ApprovalDeadline = cloneTime(g.ApprovalDeadline)
	c.DueAt = cloneTime(g.DueAt)
	c.Approvals = append([]Approval(nil), g.Approvals...)
	c.Approvers = append([]string(nil), g.Approvers...)
	if g.Window != nil {
		w := *g.Window
		c.Window = &w
	}
	if g.ProviderData != nil {
		c.ProviderData = make(map[string]string, len(g.ProviderData))
		for k, v := range g.ProviderData {
			c.ProviderData[k] = v
		}
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

// TimePtr returns a pointer to t in UTC.
func TimePtr(t time.Time) *time.Time { t = t.UTC(); return &t }

// SplitAccess splits "resource/role". Both parts are empty if s is malformed.
func SplitAccess(s string) (resource, role string) {
	i := strings.IndexByte(s, '/')
	if i <= 0 || i == len(s)-1 || strings.IndexByte(s[i+1:], '/') >= 0 {
		return "", ""
	}
	return s[:i], s[i+1:]
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new grant id: 26 lowercase characters, a millisecond
// timestamp followed by 80 random bits, so ids sort by creation time and are
// safe in identifiers (PostgreSQL role names, file names).
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of a grant id, so that ids from
// outside can be rejected before they reach a store or a provider.
func ValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}

// GrantFilter selects grants in a listing. Results are newest first.
type GrantFilter struct {
	State     []State
	Principal string
	Access    string
	Policy    string
	IDs       []string
	// BreakGlass selects break-glass grants only.
	BreakGlass bool
	// Decidable (broker only) selects pending requests the caller may
	// decide; Review (broker only) selects break-glass grants not yet
	// reviewed. Stores ignore both.
	Decidable bool
	Review    bool
	Limit     int    // 0: a default; capped by the store
	Cursor    string // the NextCursor of the previous page
}

// GrantUpdate is one compare-and-set update of a grant together with the
// audit record of its transition. Grant.Version must be the version that was
// read; the store writes the grant only if it still has that version, then
// increments Grant.Version. Audit may be nil only for bookkeeping changes
// that are not transitions (a retry time, provider data).
type GrantUpdate struct {
	Grant *Grant
	Audit *AuditRecord
}
