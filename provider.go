package stint

import (
	"context"
	"log/slog"
	"time"
)

// Credential is what a grant gives its requester. It is returned once, in the
// answer that activates the grant, and never stored by Stint.
type Credential struct {
	GrantID   string            `json:"grant_id"`
	ExpiresAt time.Time         `json:"expires_at"`
	Env       map[string]string `json:"env"`
	Files     map[string]string `json:"files,omitempty"`
}

// LogValue keeps credentials out of logs.
func (c *Credential) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Provider issues and revokes access on one resource. Implementations are
// safe for concurrent use.
type Provider interface {
	// Issue creates the access of g (g.Role on the provider's resource) until
	// *g.ExpiresAt, and returns the credential. It is idempotent per grant id:
	// issuing again after a crash replaces or reuses what the first call made.
	// It may set entries of g.ProviderData, which the broker stores.
	Issue(ctx context.Context, g *Grant) (*Credential, error)
	// Revoke removes the access of g. It is idempotent: nil if already gone.
	Revoke(ctx context.Context, g *Grant) error
}

// RevocationModer is implemented by providers that declare how they end
// access. A provider that does not implement it is taken as RevocationEarly.
type RevocationModer interface {
	RevocationMode() string
}

// Renewer is implemented by providers that can push a new expiry into an
// issued credential. Providers without it cannot be renewed.
type Renewer interface {
	Renew(ctx context.Context, g *Grant, expiresAt time.Time) error
}

// UsageObserver is implemented by providers that can tell whether a grant was used.
type UsageObserver interface {
	// Used reports whether g was used and when it was last seen in use.
	Used(ctx context.Context, g *Grant) (used bool, lastSeen time.Time, err error)
}

// Discoverer is implemented by providers that can list standing privileges
// on their target.
type Discoverer interface {
	Discover(ctx context.Context) ([]StandingPrivilege, error)
}

// StandingPrivilege is one privilege found standing on a target.
type StandingPrivilege struct {
	Resource  string `json:"resource"`
	Principal string `json:"principal"` // the identity on the target
	Privilege string `json:"privilege"`
	Detail    string `json:"detail,omitempty"`
}

// Lister is implemented by providers that can list the artefacts they
// created, for the reconciler.
type Lister interface {
	// List returns the grant ids that have artefacts on the target.
	List(ctx context.Context) ([]string, error)
	// RemoveOrphan removes the artefacts of a grant id that has no live grant.
	RemoveOrphan(ctx context.Context, grantID string) error
}

// RoleChecker is implemented by providers that can check a role's
// configuration against the live target (for `stint policy check`).
type RoleChecker interface {
	CheckRoles(ctx context.Context) error
}

// ResourceSpec is what a provider factory gets to build a provider for one
// resource.
type ResourceSpec struct {
	Name string // the resource name, e.g. "prod-db"
	// Decode decodes the resource's configuration (the whole mapping under
	// resources.NAME, roles included) into v, strictly: unknown fields are
	// errors. Errors already name file, line and field.
	Decode func(v any) error
	// Roles lists the role names configured for the resource.
	Roles []string
	// DataDir is a directory the provider may keep state in (keys).
	DataDir string
	// URL is the server's public URL (issuer of tokens, links).
	URL    string
	Clock  Clock
	Logger *slog.Logger
}

// ProviderFactory builds providers of one type (postgres, ssh, token, exec).
type ProviderFactory interface {
	// Type is the name used in `provider:`.
	Type() string
	// Validate checks a resource's configuration without side effects and
	// returns every problem, as FieldErrors with paths relative to the
	// resource (for example "roles.readonly.grant").
	Validate(spec ResourceSpec) error
	// New builds the provider. It may open connections and files.
	New(ctx context.Context, spec ResourceSpec) (Provider, error)
}

// LiveChecker is implemented by factories that can check a resource's
// configuration against its live target, for `stint policy check`: roles
// that must exist, for example. It returns FieldErrors (paths relative to
// the resource) for what is wrong, and an EUNAVAILABLE error when the target
// cannot be reached, in which case the check is skipped with a warning.
type LiveChecker interface {
	CheckLive(ctx context.Context, spec ResourceSpec) error
}
