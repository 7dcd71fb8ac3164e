package stint

import (
	"context"
	"time"
)

// Report holds the success metrics of a period (CONTRACT.md section 7).
// Durations are in seconds (to the millisecond), ratios to four decimals.
// Lists are never null in JSON: an empty report has zeros and empty lists.
// internal/report builds it.
type Report struct {
	Period             ReportPeriod        `json:"period"`
	Requests           RequestCounts       `json:"requests"`
	SessionDuration    SessionStats        `json:"session_duration"`
	ApprovalLatency    ApprovalLatency     `json:"approval_latency"`
	UnusedAccess       UnusedAccess        `json:"unused_access"`
	StandingAccess     StandingAccess      `json:"standing_access"`
	TTLRecommendations []TTLRecommendation `json:"ttl_recommendations"`
	Denials            []DenialCount       `json:"denials"`
	Bottlenecks        []Bottleneck        `json:"bottlenecks"`
	OverApproval       []OverApproval      `json:"over_approval"`
	RevocationFailures int                 `json:"revocation_failures"`
	ByPolicy           []PolicyReport      `json:"by_policy"`
}

// ReportPeriod is the interval a report covers: grants requested in
// [From, To).
type ReportPeriod struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// RequestCounts counts the grants requested in the period, by their state
// now. ByOutcome has a key for every state, zero or not.
type RequestCounts struct {
	Total     int            `json:"total"`
	ByOutcome map[string]int `json:"by_outcome"`
}

// SessionStats describes how long ended grants that were activated lasted
// (ended minus activated), in seconds. TTLRatio is the mean of each
// session's length over its granted TTL.
type SessionStats struct {
	Count    int     `json:"count"`
	Mean     float64 `json:"mean"`
	P50      float64 `json:"p50"`
	P95      float64 `json:"p95"`
	TTLRatio float64 `json:"ttl_ratio"`
}

// ApprovalLatency describes the time from request to the approval that
// completed it, in seconds, over the grants that needed approval and got it.
// OldestPending is the age, at the end of the period, of the oldest request
// still pending.
type ApprovalLatency struct {
	Count         int     `json:"count"`
	P50           float64 `json:"p50"`
	P95           float64 `json:"p95"`
	OldestPending float64 `json:"oldest_pending"`
}

// UnusedAccess counts ended grants that were activated (Ended), those with
// no observed use (Unused), and those whose use could not be observed
// (Unobservable). UnusedShare is Unused / (Ended - Unobservable).
type UnusedAccess struct {
	Ended        int     `json:"ended"`
	Unused       int     `json:"unused"`
	Unobservable int     `json:"unobservable"`
	UnusedShare  float64 `json:"unused_share"`
}

// StandingAccess compares the standing privileges found at the first
// discovery of each resource (Baseline) with its latest discovery (Current),
// summed over resources. Reduction is (Baseline - Current) / Baseline, 0
// when Baseline is 0.
type StandingAccess struct {
	Baseline  int     `json:"baseline"`
	Current   int     `json:"current"`
	Reduction float64 `json:"reduction"`
}

// TTLRecommendation proposes a shorter TTL for a policy whose sessions use
// much less than they are granted. TTL and Recommended are in seconds.
type TTLRecommendation struct {
	Policy      string  `json:"policy"`
	TTL         float64 `json:"ttl"`
	Recommended float64 `json:"recommended"`
	Sessions    int     `json:"sessions"`
	P95         float64 `json:"p95"`
	Evidence    string  `json:"evidence"`
}

// DenialCount counts the requests policy denied for one principal, access
// and reason.
type DenialCount struct {
	Principal string `json:"principal"`
	Access    string `json:"access"`
	Count     int    `json:"count"`
	Reason    string `json:"reason"`
}

// Bottleneck kinds.
const (
	BottleneckPending  = "pending"  // a request waiting for approval
	BottleneckApprover = "approver" // an approver who decides slowly
)

// Bottleneck is an old pending request or a slow approver; Kind says which,
// and the fields of the other kind are absent.
type Bottleneck struct {
	Kind string `json:"kind"`
	*PendingRequest
	*SlowApprover
}

// PendingRequest is a request waiting for approval; Age in seconds at the
// end of the period. Approvers are the approvers the policy names.
type PendingRequest struct {
	GrantID   string   `json:"grant_id"`
	Access    string   `json:"access"`
	Policy    string   `json:"policy"`
	Principal string   `json:"principal"`
	Age       float64  `json:"age"`
	Approvers []string `json:"approvers"`
}

// SlowApprover is an approver and the median time, in seconds, from a
// request to their decision on it.
type SlowApprover struct {
	Approver  string  `json:"approver"`
	Decisions int     `json:"decisions"`
	P50       float64 `json:"p50"`
}

// DecisionStats counts approvers' decisions on a policy's requests: the
// approval rate Approved / (Approved + Rejected) and the median time, in
// seconds, from request to decision.
type DecisionStats struct {
	Decisions    int     `json:"decisions"`
	Approved     int     `json:"approved"`
	Rejected     int     `json:"rejected"`
	ApprovalRate float64 `json:"approval_rate"`
	Median       float64 `json:"median"`
}

// OverApproval warns about a policy whose approval looks like a formality:
// approved nearly always, or within seconds.
type OverApproval struct {
	Policy string `json:"policy"`
	DecisionStats
	Warning string `json:"warning"`
}

// PolicyReport holds the figures of one policy.
type PolicyReport struct {
	Policy          string          `json:"policy"`
	Requests        int             `json:"requests"`
	ByOutcome       map[string]int  `json:"by_outcome"`
	SessionDuration SessionStats    `json:"session_duration"`
	ApprovalLatency ApprovalLatency `json:"approval_latency"`
	UnusedAccess    UnusedAccess    `json:"unused_access"`
	Decisions       DecisionStats   `json:"decisions"`
}

// ReportStore is an optional capability of a Store that lets a report read
// what it needs without loading every grant: stores implement it with
// indexed, paged queries. internal/report falls back to the Store's listings
// for stores that lack it.
type ReportStore interface {
	// ReportGrants calls fn for each grant requested in [from, to), in any
	// order, with end set to the audit record that ended it
	// (grant.expired, grant.revoked or grant.force_closed, whichever is
	// last; only Type, Time and Details are set) when the grant is expired
	// or revoked, nil otherwise. An error from fn stops the walk and is
	// returned.
	ReportGrants(ctx context.Context, from, to time.Time, fn func(g *Grant, end *AuditRecord) error) error
	// CountAudit returns the number of audit records of type typ whose time
	// is in [from, to).
	CountAudit(ctx context.Context, typ string, from, to time.Time) (int, error)
	// CountStanding returns, summed over resources, the number of standing
	// privileges found by each resource's first discovery run (baseline) and
	// by its latest (current).
	CountStanding(ctx context.Context) (baseline, current int, err error)
}
