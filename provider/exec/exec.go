// Package exec is the provider that runs your own commands to grant and
// revoke access on any system (provider: exec).
//
// Configuration of a resource:
//
//	legacy:
//	  provider: exec
//	  grant: [/usr/local/bin/legacy-grant, --mode, jit]   # argv; absolute path, no shell
//	  revoke: [/usr/local/bin/legacy-revoke]
//	  timeout: 30s              # optional, per command run; default 30s
//	  revocation: early         # optional: early (default) or expiry-only
//	  roles:
//	    operator: {}
//	    admin:
//	      args: [--admin]       # appended to both argv for this role
//	      env: { LEGACY_LEVEL: "9" }   # extra environment for this role
//
// The commands run without a shell, with only this environment: PATH
// (DefaultPath unless the role sets it), STINT_GRANT_ID, STINT_PRINCIPAL,
// STINT_RESOURCE, STINT_ROLE, STINT_EXPIRES_AT (RFC 3339, UTC),
// STINT_REASON, STINT_TICKET, then the role's env (which may not set
// STINT_* names). Both commands must be idempotent: Stint runs grant again
// after a crash and revoke until it succeeds.
//
// The grant command may print {"env": {...}, "files": {...}} on stdout; it
// becomes the credential (empty output: a credential with no variables).
// Anything else on stdout is an error. Its stdout is never logged or shown.
// A non-zero exit is a failure whose error carries the last 1 KB of the
// command's stderr, so write no secrets to stderr.
//
// revoke is required unless revocation is expiry-only; without it Revoke
// does nothing.
package exec

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// Type is the provider type, as written in `provider:`.
const Type = "exec"

// DefaultTimeout bounds one run of a command.
const DefaultTimeout = 30 * time.Second

// DefaultPath is the PATH the commands get unless the role's env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is the configuration of one exec resource.
type Config struct {
	Provider string   `yaml:"provider" json:"provider"`
	Grant    []string `yaml:"grant" json:"grant"`
	Revoke   []string `yaml:"revoke" json:"revoke"`
	// Timeout is a duration ("30s"); empty means DefaultTimeout.
	Timeout string `yaml:"timeout" json:"timeout"`
	// Revocation is stint.RevocationEarly (default) or stint.RevocationExpiryOnly.
	Revocation string                `yaml:"revocation" json:"revocation"`
	Roles      map[string]RoleConfig `yaml:"roles" json:"roles"`
}

// RoleConfig is the configuration of one role.
type RoleConfig struct {
	// Args are appended to the grant and revoke argv.
	Args []string `yaml:"args" json:"args"`
	// Env is extra environment for both commands.
	Env map[string]string `yaml:"env" json:"env"`
}

// Factory builds exec providers.
type Factory struct{}

var _ stint.ProviderFactory = (*Factory)(nil)

// NewFactory returns an exec provider factory.
func NewFactory() *Factory { return &Factory{} }

// Type returns "exec".
func (f *Factory) Type() string { return Type }

// Validate checks an exec resource's configuration without side effects (it
// does not look at the commands' files; CheckRoles does). It returns the
// decoding error as is (it already names file, line and field), or
// stint.FieldErrors with paths relative to the resource.
func (f *Factory) Validate(spec stint.ResourceSpec) error {
	_, err := parseConfig(spec)
	return err
}

// New builds the provider of one exec resource. Returns the Validate errors.
func (f *Factory) New(ctx context.Context, spec stint.ResourceSpec) (stint.Provider, error) {
	c, err := parseConfig(spec)
	if err != nil {
		return nil, err
	}
	c.resource = spec.Name
	c.logger = spec.Logger
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.logger = c.logger.With("provider", Type, "resource", spec.Name)
	return &Provider{cfg: c}, nil
}

type role struct {
	args []string
	env  []string // K=V
}

type config struct {
	resource   string
	grant      []string
	revoke     []string
	timeout    time.Duration
	revocation string
	roles      map[string]role
	logger     *slog.Logger
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func parseConfig(spec stint.ResourceSpec) (*config, error) {
	if spec.Decode == nil {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: no configuration", spec.Name)
	}
	var c Config
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	out := &config{
		grant: c.Grant, revoke: c.Revoke, timeout: DefaultTimeout,
		revocation: stint.RevocationEarly, roles: map[string]role{},
	}
	var errs stint.FieldErrors
	switch c.Revocation {
	case "", stint.RevocationEarly:
	case stint.RevocationExpiryOnly:
		out.revocation = stint.RevocationExpiryOnly
	default:
		errs.Add("revocation", "must be %s or %s", stint.RevocationEarly, stint.RevocationExpiryOnly)
	}
	checkArgv(&errs, "grant", c.Grant, true)
	checkArgv(&errs, "revoke", c.Revoke, out.revocation == stint.RevocationEarly)
	if c.Timeout != "" {
		d, err := stint.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			errs.Add("timeout", "%v", err)
		case d <= 0:
			errs.Add("timeout", "must be positive")
		default:
			out.timeout = d
		}
	}
	if len(c.Roles) == 0 {
		errs.Add("roles", "at least one role is required")
	}
	for name, r := range c.Roles {
		ro := role{args: r.Args}
		for k, v := range r.Env {
			field := "roles." + name + ".env." + k
			switch {
			case !envName.MatchString(k):
				errs.Add(field, "not a valid environment variable name")
			case strings.HasPrefix(k, "STINT_"):
				errs.Add(field, "STINT_ variables are set by Stint")
			case strings.ContainsRune(v, 0):
				errs.Add(field, "contains a NUL byte")
			}
			ro.env = append(ro.env, k+"="+v)
		}
		for i, a := range r.Args {
			if strings.ContainsRune(a, 0) {
				errs.Add(fmt.Sprintf("roles.%s.args", name), "argument %d contains a NUL byte", i)
			}
		}
		out.roles[name] = ro
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func checkArgv(errs *stint.FieldErrors, field string, argv []string, required bool) {
	if len(argv) == 0 {
		if required {
			errs.Add(field, "is required: the command and its arguments, as a list")
		}
		return
	}
	if !filepath.IsAbs(argv[0]) {
		errs.Add(field, "the command must be an absolute path (no shell, no PATH lookup): %q", argv[0])
	}
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			errs.Add(field, "argument %d contains a NUL byte", i)
		}
	}
}

var _ stint.LiveChecker = (*Factory)(nil)

// CheckLive checks that the resource's grant and revoke commands exist and
// are executable (CheckRoles), for `stint policy check`.
func (f *Factory) CheckLive(ctx context.Context, spec stint.ResourceSpec) error {
	p, err := f.New(ctx, spec)
	if err != nil {
		return err
	}
	return p.(*Provider).CheckRoles(ctx)
}
