package stint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// Audit record types.
const (
	AuditGrantRequested    = "grant.requested"
	AuditGrantDenied       = "grant.denied"
	AuditGrantApproved     = "grant.approved"
	AuditGrantRejected     = "grant.rejected"
	AuditGrantActivated    = "grant.activated"
	AuditGrantFailed       = "grant.failed"
	AuditGrantRenewed      = "grant.renewed"
	AuditGrantRevoking     = "grant.revoking" // revocation started (by a user or at expiry)
	AuditGrantRevoked      = "grant.revoked"
	AuditGrantExpired      = "grant.expired"
	AuditGrantRevokeFailed = "grant.revoke_failed"
	AuditGrantForceClosed  = "grant.force_closed"
	AuditGrantCancelled    = "grant.cancelled"
	AuditGrantReconciled   = "grant.reconciled"
	AuditGrantReviewed     = "grant.reviewed" // after-the-fact review of a break-glass grant
	AuditGrantExpiring     = "grant.expiring" // an active grant nears its expiry
	AuditApprovalTimedOut  = "grant.approval_timed_out"
	AuditWindowOpened      = "window.opened"
	AuditWindowClosed      = "window.closed"
	AuditEventReceived     = "event.received"
	AuditConfigLoaded      = "config.loaded"
	AuditConfigRejected    = "config.rejected"
	AuditAccessDenied      = "access.denied" // an authenticated caller not allowed to act
	AuditOrphanRemoved     = "orphan.removed"
)

// AuditRecord is one append-only audit event. Seq, PrevHash and Hash are set
// by the store when it appends the record, in the same transaction as the
// change it records.
type AuditRecord struct {
	Seq      int64          `json:"seq"`
	Time     time.Time      `json:"time"`
	Type     string         `json:"type"`
	Actor    string         `json:"actor"` // subject, or "stint" for the server itself
	GrantID  string         `json:"grant_id,omitempty"`
	Access   string         `json:"access,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Details  map[string]any `json:"details,omitempty"`
	PrevHash string         `json:"prev_hash"`
	Hash     string         `json:"hash"`
}

// ActorStint is the actor of records written by the server on its own
// (expiry, reconciliation, configuration loads).
const ActorStint = "stint"

// GenesisHash is the PrevHash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// CanonicalJSON returns the canonical encoding of r that its hash covers:
// a JSON object with the fields seq, time (RFC 3339, UTC, nanoseconds), type,
// actor, grant_id, access, reason, details and prev_hash, keys sorted at every
// depth, no insignificant space. Hash itself is excluded.
func (r *AuditRecord) CanonicalJSON() ([]byte, error) {
	m := map[string]any{
		"seq":       r.Seq,
		"time":      r.Time.UTC().Format(time.RFC3339Nano),
		"type":      r.Type,
		"actor":     r.Actor,
		"grant_id":  r.GrantID,
		"access":    r.Access,
		"reason":    r.Reason,
		"details":   r.Details,
		"prev_hash": r.PrevHash,
	}
	if r.Details == nil {
		m["details"] = map[string]any{}
	}
	// encoding/json sorts map keys at every depth; round-trip Details through
	// JSON so that structs and typed maps encode the same as their decoded form.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(normalize(m)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// normalize turns v into plain maps, slices and scalars with sorted keys.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return v
	}
	return out
}

// ComputeHash returns the hex SHA-256 over PrevHash and the canonical record.
func (r *AuditRecord) ComputeHash() (string, error) {
	c, err := r.CanonicalJSON()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(r.PrevHash))
	h.Write([]byte{'\n'})
	h.Write(c)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Seal sets r.Seq, r.PrevHash and r.Hash, chaining r after a record with
// sequence number prevSeq and hash prevHash (0 and GenesisHash for the first).
func (r *AuditRecord) Seal(prevSeq int64, prevHash string) error {
	r.Seq = prevSeq + 1
	r.PrevHash = prevHash
	r.Time = r.Time.UTC()
	h, err := r.ComputeHash()
	if err != nil {
		return err
	}
	r.Hash = h
	return nil
}

// AuditFilter selects audit records, oldest first.
type AuditFilter struct {
	Since    time.Time // zero: from the start
	GrantID  string
	AfterSeq int64 // for paging: records with Seq > AfterSeq
	Limit    int   // 0: a default; capped by the store
}

// SortedKeys returns the keys of m, sorted; a helper for stable output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
