package postgres

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stint-io/stint"
)

// Defaults of a resource's configuration.
const (
	DefaultRolePrefix    = "stint_"
	DefaultSchema        = "stint"
	DefaultUsageInterval = 30 * time.Second
	DefaultMaxConns      = 8
	// MinUsageInterval bounds how often pg_stat_activity is sampled.
	MinUsageInterval = time.Second
	// MaxIdentifierLength is PostgreSQL's limit (NAMEDATALEN-1) in bytes.
	MaxIdentifierLength = 63
)

// Config is the configuration of one postgres resource, as written under
// resources.NAME.
type Config struct {
	Provider string `yaml:"provider" json:"provider"`
	// DSN is the admin connection string (URL or key=value), a secret:
	// write it as ${env:NAME} or ${file:PATH}. Required.
	DSN string `yaml:"dsn" json:"dsn"`
	// Database is the database the provider connects to and the credential
	// names; default: the DSN's.
	Database string `yaml:"database" json:"database"`
	// Host and Port are what the credential connects to; default: the DSN's.
	Host string `yaml:"host" json:"host"`
	Port int    `yaml:"port" json:"port"`
	// RolePrefix names ephemeral roles (PREFIX + grant id); every role with
	// this prefix belongs to Stint. Default DefaultRolePrefix.
	RolePrefix string `yaml:"role_prefix" json:"role_prefix"`
	// ReassignTo receives the objects an ephemeral role created; default:
	// the DSN's user.
	ReassignTo string `yaml:"reassign_to" json:"reassign_to"`
	// Schema holds the provider's bookkeeping tables; default DefaultSchema.
	Schema string `yaml:"schema" json:"schema"`
	// UsageInterval is how often pg_stat_activity is sampled ("30s").
	UsageInterval string `yaml:"usage_interval" json:"usage_interval"`
	// MaxConns is the size of the admin connection pool; default DefaultMaxConns.
	MaxConns int                   `yaml:"max_conns" json:"max_conns"`
	Roles    map[string]RoleConfig `yaml:"roles" json:"roles"`
}

// RoleConfig is the configuration of one role.
type RoleConfig struct {
	// Grant lists existing roles the grant's role becomes a member of.
	Grant []string `yaml:"grant" json:"grant"`
	// Privileges are SQL statements run when an ephemeral role is made, with
	// {{role}} replaced by its quoted name (for example
	// "GRANT SELECT ON audit.events TO {{role}}"). Each statement is
	// serialised server-wide: use them for small numbers of grants and
	// prefer group roles in Grant.
	Privileges []string `yaml:"privileges" json:"privileges"`
	// ConnectionLimit caps the ephemeral role's sessions (0: no limit).
	ConnectionLimit int `yaml:"connection_limit" json:"connection_limit"`
	// Elevate names an existing login role that receives Grant for the
	// grant's life instead of a new role being made.
	Elevate string `yaml:"elevate" json:"elevate"`
}

type role struct {
	grant      []string
	privileges []string
	connLimit  int
	elevate    string
}

// config is a validated resource configuration.
type config struct {
	resource      string
	pool          *pgxpool.Config // carries the DSN's secrets; never printed
	database      string
	host          string
	port          int
	sslmode       string
	prefix        string
	reassignTo    string
	schema        string
	adminUser     string
	usageInterval time.Duration
	maxConns      int
	roles         map[string]role
}

var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// maxPrefixLength leaves room for a 26-character grant id in 63 bytes.
const maxPrefixLength = MaxIdentifierLength - 26

func parseConfig(spec stint.ResourceSpec) (*config, error) {
	if spec.Decode == nil {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: no configuration", spec.Name)
	}
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	out := &config{
		resource: spec.Name, prefix: DefaultRolePrefix, schema: DefaultSchema,
		usageInterval: DefaultUsageInterval, maxConns: DefaultMaxConns,
		database: c.Database, host: c.Host, port: c.Port, reassignTo: c.ReassignTo,
		roles: map[string]role{},
	}
	var errs stint.FieldErrors
	if strings.TrimSpace(c.DSN) == "" {
		errs.Add("dsn", "is required (write it as ${env:NAME})")
	} else if pc, err := pgxpool.ParseConfig(c.DSN); err != nil {
		// The parser's message may quote the DSN: never show it.
		errs.Add("dsn", "is not a valid PostgreSQL connection string")
	} else {
		out.pool = pc
		cc := pc.ConnConfig
		out.adminUser = cc.User
		if out.database == "" {
			out.database = cc.Database
		}
		if out.host == "" {
			out.host = cc.Host
		}
		if out.port == 0 {
			out.port = int(cc.Port)
		}
		out.sslmode = sslMode(c.DSN, out.host)
	}
	if c.Port < 0 || c.Port > 65535 {
		errs.Add("port", "must be between 1 and 65535")
	}
	checkIdent(&errs, "database", c.Database, false)
	checkIdent(&errs, "reassign_to", c.ReassignTo, false)
	checkIdent(&errs, "schema", c.Schema, false)
	if c.Schema != "" {
		out.schema = c.Schema
	}
	if out.reassignTo == "" {
		out.reassignTo = out.adminUser
	}
	if c.RolePrefix != "" {
		if !prefixRE.MatchString(c.RolePrefix) || len(c.RolePrefix) > maxPrefixLength {
			errs.Add("role_prefix", "must be lowercase letters, digits and _, start with a letter or _, and be at most %d characters", maxPrefixLength)
		} else if strings.HasPrefix(c.RolePrefix, "pg_") {
			errs.Add("role_prefix", "must not start with pg_ (reserved by PostgreSQL)")
		}
		out.prefix = c.RolePrefix
	}
	if c.UsageInterval != "" {
		d, err := stint.ParseDuration(c.UsageInterval)
		switch {
		case err != nil:
			errs.Add("usage_interval", "%v", err)
		case d < MinUsageInterval:
			errs.Add("usage_interval", "must be at least %s", stint.FormatDuration(MinUsageInterval))
		default:
			out.usageInterval = d
		}
	}
	switch {
	case c.MaxConns == 0:
	case c.MaxConns < 1 || c.MaxConns > 1000:
		errs.Add("max_conns", "must be between 1 and 1000")
	default:
		out.maxConns = c.MaxConns
	}
	if len(c.Roles) == 0 {
		errs.Add("roles", "at least one role is required")
	}
	for _, name := range stint.SortedKeys(c.Roles) {
		out.roles[name] = parseRole(&errs, "roles."+name, c.Roles[name])
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseRole(errs *stint.FieldErrors, field string, r RoleConfig) role {
	for i, g := range r.Grant {
		checkIdent(errs, field+".grant", g, true)
		if g != "" && r.Elevate != "" && g == r.Elevate {
			errs.Add(field+".grant", "role %d: cannot grant %s to itself", i, g)
		}
	}
	for i, p := range r.Privileges {
		if strings.TrimSpace(p) == "" {
			errs.Add(field+".privileges", "statement %d is empty", i)
		} else if !strings.Contains(p, roleVar) {
			errs.Add(field+".privileges", "statement %d must name the role as %s", i, roleVar)
		}
	}
	if r.ConnectionLimit < 0 {
		errs.Add(field+".connection_limit", "must be positive (0: no limit)")
	}
	if r.Elevate != "" {
		checkIdent(errs, field+".elevate", r.Elevate, false)
		if len(r.Grant) == 0 {
			errs.Add(field+".grant", "elevate needs at least one role to grant")
		}
		if len(r.Privileges) > 0 {
			errs.Add(field+".privileges", "cannot be combined with elevate (they could not be taken back)")
		}
		if r.ConnectionLimit != 0 {
			errs.Add(field+".connection_limit", "cannot be combined with elevate")
		}
	} else if len(r.Grant) == 0 && len(r.Privileges) == 0 {
		errs.Add(field, "needs grant, privileges or elevate")
	}
	return role{grant: r.Grant, privileges: r.Privileges, connLimit: r.ConnectionLimit, elevate: r.Elevate}
}

// checkIdent checks a PostgreSQL identifier (it is always quoted when used).
func checkIdent(errs *stint.FieldErrors, field, s string, required bool) {
	switch {
	case s == "" && required:
		errs.Add(field, "role name must not be empty")
	case s == "":
	case len(s) > MaxIdentifierLength:
		errs.Add(field, "%q is longer than %d bytes", s, MaxIdentifierLength)
	case strings.ContainsRune(s, 0):
		errs.Add(field, "must not contain a NUL character")
	}
}

// sslMode returns the sslmode of the DSN, or disable on loopback and the
// libpq default prefer elsewhere.
func sslMode(dsn, host string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if m := u.Query().Get("sslmode"); m != "" {
			return m
		}
	} else if m := kvSSLMode.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[1], `'`)
	}
	if host == "localhost" || strings.HasPrefix(host, "/") {
		return "disable"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "disable"
	}
	return "prefer"
}

var kvSSLMode = regexp.MustCompile(`(?:^|\s)sslmode\s*=\s*('[^']*'|\S+)`)
