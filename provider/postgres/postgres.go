// Package postgres is the provider of short-lived PostgreSQL access
// (provider: postgres).
//
// Configuration of a resource:
//
//	prod-db:
//	  provider: postgres
//	  dsn: ${env:PROD_DB_ADMIN_DSN}  # admin connection string; a secret, never logged
//	  database: app                  # optional: default the DSN's
//	  host: db.internal              # optional: what the credential connects to; default the DSN's
//	  port: 5432                     # optional: default the DSN's
//	  role_prefix: stint_            # optional: reserved for Stint; default stint_
//	  reassign_to: app_owner         # optional: owner of what ephemeral roles created; default the DSN's user
//	  schema: stint                  # optional: the provider's bookkeeping schema; default stint
//	  usage_interval: 30s            # optional: pg_stat_activity sampling; default 30s, at least 1s
//	  max_conns: 8                   # optional: admin connection pool; default 8
//	  roles:
//	    readonly: { grant: [pg_read_all_data] }
//	    migrate:  { grant: [app_owner], connection_limit: 2 }
//	    audit:    { privileges: ["GRANT SELECT ON audit.events TO {{role}}"] }
//	    backup:   { elevate: backup_svc, grant: [pg_read_all_data] }
//
// The provider connects to `database` (default the DSN's) with the DSN's
// user, which needs CREATEROLE (or superuser) with the right to grant the
// listed roles, and CREATE on that database for its bookkeeping schema.
//
// An ephemeral role (grant and/or privileges) is a new login role named
// role_prefix + grant id, with a random 256-bit password, VALID UNTIL the
// grant's expiry (PostgreSQL refuses password logins after it even if Stint
// is down), membership in the grant roles, the optional connection limit,
// and the privileges statements run with {{role}} replaced by its quoted
// name. The password reaches the server only as a SCRAM-SHA-256 verifier
// computed by Stint, so it cannot appear in the statement log. The
// credential is PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD and
// DATABASE_URL. Each privileges statement holds an advisory lock for the
// rest of its transaction, so concurrent grants of it run one at a time:
// keep them for small numbers of grants and use group roles in grant.
//
// Revocation disables the login, terminates the role's sessions, reassigns
// what it owns in `database` to reassign_to, drops its remaining privileges
// (DROP OWNED, which takes back the privileges statements) and drops it. It
// cannot see objects the role created in other databases; DROP ROLE then
// fails and revocation is retried until they are removed by hand.
//
// Elevation (elevate: ROLE) grants the listed roles to an existing login
// role for the grant's life, without touching its password; the credential
// names the role (PGUSER, no PGPASSWORD: the workload has its own). The
// provider records each elevation in SCHEMA.elevations in the transaction
// that grants it, and takes a membership back only when the last grant
// holding it ends, so overlapping grants do not cut each other off; a
// membership the role held before Stint's first grant is never taken back.
// Sessions that did SET ROLE to a granted role keep it until they end.
//
// Every role whose name starts with role_prefix belongs to Stint: List
// reports them all, so that the reconciler drops what has no live grant.
//
// Example: a read-only role for a nightly job and a migration role behind
// approval (policies in stint.yaml), then
//
//	stint exec prod-db/readonly -- psql -c 'select 1'
//
// runs psql with PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD of a
// role that exists only while psql runs.
package postgres

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stint-io/stint"
)

// Type is the provider type, as written in `provider:`.
const Type = "postgres"

// Credential environment variables.
const (
	EnvHost     = "PGHOST"
	EnvPort     = "PGPORT"
	EnvDatabase = "PGDATABASE"
	EnvUser     = "PGUSER"
	EnvPassword = "PGPASSWORD"
	EnvURL      = "DATABASE_URL"
)

// ProviderData keys set on grants.
const (
	DataRole = "role" // the PostgreSQL role the credential logs in as
	DataMode = "mode" // ModeEphemeral or ModeElevate
)

// Modes of a grant, in ProviderData[DataMode].
const (
	ModeEphemeral = "ephemeral"
	ModeElevate   = "elevate"
)

// Factory builds postgres providers.
type Factory struct{}

var _ stint.ProviderFactory = (*Factory)(nil)

// NewFactory returns a postgres provider factory.
func NewFactory() *Factory { return &Factory{} }

// Type returns "postgres".
func (f *Factory) Type() string { return Type }

// Validate checks a postgres resource's configuration without connecting.
// It returns the decoding error as is (it already names file, line and
// field), or stint.FieldErrors with paths relative to the resource. It never
// quotes the DSN.
func (f *Factory) Validate(spec stint.ResourceSpec) error {
	_, err := parseConfig(spec)
	return err
}

// New builds the provider of one resource and starts its usage sampler. It
// does not wait for the database: an unreachable server makes Issue fail
// (transiently) rather than New. Close it to stop the sampler and close its
// connections. Returns the Validate errors.
func (f *Factory) New(ctx context.Context, spec stint.ResourceSpec) (stint.Provider, error) {
	return Open(spec)
}

// Open is New with the concrete type.
func Open(spec stint.ResourceSpec) (*Provider, error) {
	c, err := parseConfig(spec)
	if err != nil {
		return nil, err
	}
	pc := c.pool
	pc.ConnConfig.Database = c.database
	pc.MaxConns = int32(c.maxConns)
	pc.ConnConfig.RuntimeParams["application_name"] = "stint"
	// Literals are quoted for standard-conforming strings; a server or
	// database that turned them off must not change what a quote means.
	pc.ConnConfig.RuntimeParams["standard_conforming_strings"] = "on"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, stint.Errorf(stint.EINVALID, "postgres resource %s: cannot set up the connection pool: %v", spec.Name, safeError(err))
	}
	clock := spec.Clock
	if clock == nil {
		clock = stint.SystemClock
	}
	logger := spec.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Provider{
		cfg:    c,
		pool:   pool,
		clock:  clock,
		logger: logger.With("provider", Type, "resource", spec.Name),
		cancel: cancel,
		seen:   map[string]seen{},
		done:   make(chan struct{}),
	}
	go p.runSampler(ctx)
	return p, nil
}

// Provider issues and revokes access on one PostgreSQL database. It is safe
// for concurrent use. Close it when the resource is dropped or replaced.
type Provider struct {
	cfg    *config
	pool   *pgxpool.Pool
	clock  stint.Clock
	logger *slog.Logger

	schemaMu sync.Mutex
	schemaOK atomic.Bool

	mu     sync.Mutex
	seen   map[string]seen // grant id → usage seen by the sampler
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

var (
	_ stint.Provider        = (*Provider)(nil)
	_ stint.RevocationModer = (*Provider)(nil)
	_ stint.Renewer         = (*Provider)(nil)
	_ stint.UsageObserver   = (*Provider)(nil)
	_ stint.Discoverer      = (*Provider)(nil)
	_ stint.Lister          = (*Provider)(nil)
	_ stint.RoleChecker     = (*Provider)(nil)
)

// Close stops the usage sampler and closes the connection pool. It is
// idempotent and always returns nil. Calls after Close fail.
func (p *Provider) Close() error {
	p.closed.Do(func() {
		p.cancel()
		<-p.done
		p.pool.Close()
	})
	return nil
}

// RevocationMode returns stint.RevocationEarly.
func (p *Provider) RevocationMode() string { return stint.RevocationEarly }

// RoleName returns the name of the ephemeral role of grant id.
func (p *Provider) RoleName(grantID string) string { return p.cfg.prefix + grantID }

// role returns the configuration of g's role, or a permanent EINVALID.
func (p *Provider) role(g *stint.Grant) (role, error) {
	r, ok := p.cfg.roles[g.Role()]
	if !ok {
		return role{}, stint.Permanent(stint.Errorf(stint.EINVALID, "postgres resource %s has no role %q", p.cfg.resource, g.Role()))
	}
	return r, nil
}

var _ stint.LiveChecker = (*Factory)(nil)

// CheckLive connects to the resource's database and checks that every role
// its configuration names exists (CheckRoles). Returns FieldErrors for
// missing roles, EUNAVAILABLE when the database cannot be reached.
func (f *Factory) CheckLive(ctx context.Context, spec stint.ResourceSpec) error {
	spec.Logger = slog.New(slog.DiscardHandler)
	p, err := Open(spec)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.CheckRoles(ctx)
}
