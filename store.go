package stint

import (
	"context"
	"time"
)

// Store is the durable truth of Stint: grants and the audit trail. Each method
// is one transaction; a grant's change and its audit record are written
// together or not at all. Implementations: store/sqlite, store/postgres; both
// pass store/storetest.
type Store interface {
	// CreateGrant inserts the new grant g and appends rec (which may be nil).
	// It sets g.Version to 1. Returns ECONFLICT if the id exists.
	CreateGrant(ctx context.Context, g *Grant, rec *AuditRecord) error

	// UpdateGrants applies each update as a compare-and-set on the grant's
	// version, clearing any claim on it, and appends its audit record; all in
	// one transaction. An update whose grant has changed since it was read
	// (or is gone) is skipped and its entry in the returned slice is an
	// ECONFLICT (ENOTFOUND) error; the others are written and their
	// Grant.Version incremented. The returned error is for the transaction as
	// a whole, in which case nothing was written.
	UpdateGrants(ctx context.Context, updates []GrantUpdate) ([]error, error)

	// UpdateGrant is UpdateGrants for one update; a skipped update is its error.
	UpdateGrant(ctx context.Context, g *Grant, rec *AuditRecord) error

	// GetGrant returns a grant. Returns ENOTFOUND if it does not exist.
	GetGrant(ctx context.Context, id string) (*Grant, error)

	// ListGrants returns grants matching f, newest first, and the cursor of
	// the next page ("" on the last page). Returns EINVALID for a bad cursor.
	ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, string, error)

	// NextDue returns the earliest DueAt of any grant; ok is false when no
	// grant has anything due.
	NextDue(ctx context.Context) (due time.Time, ok bool, err error)

	// ClaimDue returns up to limit grants whose DueAt is at or before now and
	// that no one has claimed (or whose claim lapsed before now), earliest
	// first, and claims them until `until`, so that another worker or replica
	// does not process them at the same time. A claim is cleared by the next
	// update of the grant.
	ClaimDue(ctx context.Context, now, until time.Time, limit int) ([]*Grant, error)

	// CountActive returns the number of active grants per access string.
	CountActive(ctx context.Context) (map[string]int, error)

	// AppendAudit appends records that are not part of a grant's transition
	// (configuration loads, denied API calls, window events).
	AppendAudit(ctx context.Context, recs ...*AuditRecord) error

	// ListAudit returns audit records matching f, oldest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error)

	// Close releases the store.
	Close() error
}

// DiscoveryRun is one discovery of the standing privileges on a resource.
type DiscoveryRun struct {
	ID         int64               `json:"id"`
	Resource   string              `json:"resource"`
	Time       time.Time           `json:"time"`
	Privileges []StandingPrivilege `json:"privileges"`
}

// DiscoveryStore keeps the results of discovery runs, so that the standing
// access found at the first discovery can be compared with now. The SQLite
// and PostgreSQL stores implement it.
type DiscoveryStore interface {
	// SaveDiscovery stores run (setting run.ID) and appends rec, in one
	// transaction.
	SaveDiscovery(ctx context.Context, run *DiscoveryRun, rec *AuditRecord) error
	// ListDiscoveries returns the runs of resource ("" for all), newest first,
	// at most limit (0: all).
	ListDiscoveries(ctx context.Context, resource string, limit int) ([]*DiscoveryRun, error)
}
