// Package config loads stint.yaml: YAML with ${env:} and ${file:}
// expansion, strict validation that reports every problem as
// file:line: field: message, provider configuration checked by the provider
// factories it is given, and the policies compiled into a policy.Engine.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// Defaults of the server block.
const (
	DefaultListen = "127.0.0.1:8270"
	DefaultURL    = "http://127.0.0.1:8270"
)

// Options are the dependencies of Load and Parse. Zero fields take defaults.
type Options struct {
	// Env looks up ${env:NAME}; default os.LookupEnv.
	Env func(string) (string, bool)
	// ReadFile reads ${file:PATH} and, for Load, the file itself; default os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// DataDir, Clock and Logger are passed to providers in ResourceSpec.
	// DataDir also gives the default storage, sqlite:DataDir/stint.db.
	DataDir string
	Clock   stint.Clock  // default stint.SystemClock
	Logger  *slog.Logger // default slog.Default()
}

func (o Options) withDefaults() Options {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = readFile
	}
	if o.Clock == nil {
		o.Clock = stint.SystemClock
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Config is a loaded, valid configuration: plain data and the compiled
// policy engine. It is not modified after Load; reloading builds a new one.
type Config struct {
	File    string
	Server  ServerConfig
	Storage string // "sqlite:PATH" or "postgres://..."; may hold a password: do not log
	Auth    AuthConfig
	// Resources by name; ResourceOrder lists the names in file order.
	Resources     map[string]*Resource
	ResourceOrder []string
	// Events are the webhook sources by name; EventOrder in file order.
	Events     map[string]*EventSource
	EventOrder []string
	Notify     []*NotifyTarget
	Policy     *policy.Engine
}

// ServerConfig is the server block.
type ServerConfig struct {
	Listen  string // host:port; default DefaultListen
	URL     string // public base URL; default derived from Listen
	TLSCert string
	TLSKey  string
}

// AuthConfig is the auth block.
type AuthConfig struct {
	Tokens []TokenConfig
	OIDC   []OIDCConfig
	// Admins are "group:NAME" or subjects.
	Admins []string
}

// TokenConfig is a static bearer token, known only by its SHA-256.
type TokenConfig struct {
	Subject string
	Kind    string // stint.KindWorkload or stint.KindHuman
	Groups  []string
	SHA256  string // 64 lowercase hex digits
}

// OIDCConfig is a trusted OIDC issuer.
type OIDCConfig struct {
	Name     string
	Issuer   string
	Audience string
	Kind     string // default stint.KindWorkload
	// Subject is the CEL source ("" when unset); SubjectExpr its compiled form
	// (policy.DefaultSubject when unset).
	Subject     string
	SubjectExpr *policy.Subject
}

// Resource is one entry of `resources:`.
type Resource struct {
	Name  string
	Type  string   // the provider type
	Roles []string // in file order
	// Spec is what the provider factory gets; Spec.Decode is bound to the
	// resource's mapping in the file.
	Spec stint.ResourceSpec

	// problems turns a provider's error about this resource into problems
	// at the lines of the fields it names.
	problems func(err error) []Problem
}

// Problems returns err, an error a provider returned about the resource
// (FieldErrors with paths relative to the resource, as from Validate or a
// live check), as a *config.Error naming file, line and field; nil for nil.
func (r *Resource) Problems(err error) error {
	if err == nil || r.problems == nil {
		return err
	}
	ps := r.problems(err)
	if len(ps) == 0 {
		return nil
	}
	return newError(ps)
}

// Event source types.
const (
	EventPagerDuty = "pagerduty"
	EventGitHub    = "github"
	EventGeneric   = "generic"
)

// EventSource is one entry of `events:`, a webhook at POST /v1/events/NAME.
type EventSource struct {
	Name   string
	Type   string // EventPagerDuty, EventGitHub or EventGeneric
	Secret Secret
}

// Notification formats.
const (
	FormatSlack = "slack"
	FormatJSON  = "json"
)

// NotifyEvents lists the event names a notify target may subscribe to with `on`.
var NotifyEvents = append(append([]string{}, stint.NotifyEvents...),
	stint.AuditGrantRequested, stint.AuditGrantDenied, stint.AuditGrantApproved,
	stint.AuditGrantRejected, stint.AuditGrantActivated, stint.AuditGrantFailed,
	stint.AuditGrantRenewed, stint.AuditGrantRevoking, stint.AuditGrantRevoked,
	stint.AuditGrantExpired, stint.AuditGrantRevokeFailed, stint.AuditGrantForceClosed,
	stint.AuditGrantCancelled, stint.AuditGrantReconciled, stint.AuditApprovalTimedOut,
	stint.AuditWindowOpened, stint.AuditWindowClosed, stint.AuditEventReceived,
	stint.AuditConfigLoaded, stint.AuditConfigRejected, stint.AuditAccessDenied,
	stint.AuditOrphanRemoved, stint.AuditGrantReviewed, "discovery.run",
)

// NotifyTarget is one entry of `notify:`.
type NotifyTarget struct {
	URL    Secret // webhook URLs often embed a secret
	Format string // FormatSlack or FormatJSON
	Secret Secret // HMAC key of FormatJSON signatures; may be empty
	// On lists the events sent (from NotifyEvents); empty means the
	// notification events (stint.NotifyEvents), not every audit type.
	On []string
}

// Wants reports whether the target subscribes to event.
func (t *NotifyTarget) Wants(event string) bool {
	if len(t.On) == 0 {
		return contains(stint.NotifyEvents, event)
	}
	return contains(t.On, event)
}

// IsAdmin reports whether p is named by an entry of auth.admins.
func (c *Config) IsAdmin(p *stint.Principal) bool {
	if p == nil {
		return false
	}
	for _, a := range c.Auth.Admins {
		if p.Matches(a) {
			return true
		}
	}
	return false
}

// Load reads and parses the configuration file at path; see Parse. A file
// that cannot be read is a *Error too.
func Load(path string, factories map[string]stint.ProviderFactory, opts Options) (*Config, error) {
	opts = opts.withDefaults()
	data, err := opts.ReadFile(path)
	if err != nil {
		return nil, newError([]Problem{{File: path, Message: "cannot read: " + errMessage(err)}})
	}
	return Parse(path, data, factories, opts)
}

// MaxFileSize bounds the configuration file and each ${file:} it reads.
const MaxFileSize = 1 << 20

// readFile reads a regular file of at most MaxFileSize bytes, so that a
// FIFO or a device named by mistake cannot hang or exhaust a (re)load.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	return b, nil
}
