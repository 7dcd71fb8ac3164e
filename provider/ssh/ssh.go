// Package ssh is the provider of OpenSSH user certificates (provider: ssh).
//
// Stint is an SSH certificate authority. A grant's credential is a user
// certificate signed by the resource's CA key, valid for the role's
// principals from one minute before issue (clock skew) until the grant's
// expiry, with KeyId = the grant id and a random serial. Servers trust it
// with `TrustedUserCAKeys` (the CA public key, served at /v1/ssh/ca.pub) and
// honour revocation with `RevokedKeys` (the KRL, served at /v1/ssh/krl).
//
// Configuration of a resource:
//
//	bastion:
//	  provider: ssh
//	  ca_key: ${file:/etc/stint/ssh_ca}  # PEM private key; empty: generated
//	  key_type: ed25519                   # for key pairs Stint makes: ed25519 (default), ecdsa, rsa
//	  roles:
//	    deploy:
//	      principals: [deploy]
//	      extensions: [permit-pty]
//	      critical_options: { force-command: /usr/bin/deploy, source-address: "10.0.0.0/8" }
//
// When ca_key is empty, an ed25519 CA key is generated once in
// DATA_DIR/ssh-ca (mode 0600) and reused.
//
// Caller keys: when the requester sent its own public key
// (AccessRequest.SSHPublicKey), the broker must put it, in authorized_keys
// format, in g.ProviderData["ssh_public_key"] before Issue; the provider
// then signs it and the credential has no private key. Otherwise the
// provider makes a key pair and returns the private key as file `id`
// (OpenSSH format) with SSH_KEY_FILE=id.
//
// The credential: env SSH_CERT_FILE=id-cert.pub, SSH_KEY_FILE=id (only when
// Stint made the key pair), SSH_PRINCIPALS (comma-separated); files
// id-cert.pub (authorized_keys format) and id.
//
// Revocation is early: Revoke adds the certificate's serial and key id (the
// grant id) to the resource's key revocation list, kept in
// DATA_DIR/ssh-krl.json. Servers only see it once they fetch the new KRL
// into their RevokedKeys file (sshd re-reads it at every login). Open SSH
// sessions survive both revocation and certificate expiry: a KRL and a
// certificate's valid-before only gate new logins.
package ssh

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
)

// Type is the provider type, as written in `provider:`.
const Type = "ssh"

// Credential environment variables and files.
const (
	EnvCertFile   = "SSH_CERT_FILE"
	EnvKeyFile    = "SSH_KEY_FILE"
	EnvPrincipals = "SSH_PRINCIPALS"
	FileKey       = "id"
	FileCert      = "id-cert.pub"
)

// ProviderData keys.
const (
	// DataPublicKey is where the broker puts the caller's own public key
	// (authorized_keys format) before Issue.
	DataPublicKey = "ssh_public_key"
	// DataSerial is the certificate serial (decimal), set by Issue.
	DataSerial = "serial"
	// DataCA is the SHA256 fingerprint of the signing CA key, set by Issue.
	DataCA = "ca"
)

// Files under the server's data directory.
const (
	CAKeyFile = "ssh-ca"
	KRLFile   = "ssh-krl.json"
)

// Key types for key pairs the provider makes.
const (
	KeyTypeEd25519 = "ed25519"
	KeyTypeECDSA   = "ecdsa" // P-256
	KeyTypeRSA     = "rsa"   // 3072 bits
)

// Config is the configuration of one ssh resource.
type Config struct {
	Provider string `yaml:"provider" json:"provider"`
	// CAKey is the CA private key in PEM (OpenSSH, PKCS#1, PKCS#8 or SEC 1,
	// unencrypted). A secret: never logged.
	CAKey   string                `yaml:"ca_key" json:"ca_key"`
	KeyType string                `yaml:"key_type" json:"key_type"`
	Roles   map[string]RoleConfig `yaml:"roles" json:"roles"`
}

// LogValue keeps the CA key out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", c.Provider), slog.String("key_type", c.KeyType),
		slog.Int("roles", len(c.Roles)), slog.Bool("ca_key_set", c.CAKey != ""))
}

// RoleConfig is the configuration of one role.
type RoleConfig struct {
	Principals      []string          `yaml:"principals" json:"principals"`
	Extensions      []string          `yaml:"extensions" json:"extensions"`
	CriticalOptions map[string]string `yaml:"critical_options" json:"critical_options"`
}

// knownExtensions are the certificate extensions OpenSSH understands.
// Vendor extensions (name@domain) are accepted too.
var knownExtensions = map[string]bool{
	"no-touch-required":       true,
	"permit-X11-forwarding":   true,
	"permit-agent-forwarding": true,
	"permit-port-forwarding":  true,
	"permit-pty":              true,
	"permit-user-rc":          true,
	"verify-required":         true,
}

type role struct {
	principals []string
	extensions map[string]string
	critical   map[string]string
}

type config struct {
	caKey   gossh.Signer // nil: generate or load from the data directory
	keyType string
	roles   map[string]role
}

func parseConfig(spec stint.ResourceSpec) (*config, error) {
	var c Config
	if spec.Decode == nil {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: no configuration", spec.Name)
	}
	if err := spec.Decode(&c); err != nil {
		return nil, err
	}
	out := &config{keyType: KeyTypeEd25519, roles: map[string]role{}}
	var errs stint.FieldErrors
	if strings.TrimSpace(c.CAKey) != "" {
		s, err := parseCAKey([]byte(c.CAKey))
		if err != nil {
			errs.Add("ca_key", "%s", err.Message)
		}
		out.caKey = s
	}
	switch c.KeyType {
	case "":
	case KeyTypeEd25519, KeyTypeECDSA, KeyTypeRSA:
		out.keyType = c.KeyType
	default:
		errs.Add("key_type", "must be %s, %s or %s", KeyTypeEd25519, KeyTypeECDSA, KeyTypeRSA)
	}
	if len(c.Roles) == 0 {
		errs.Add("roles", "at least one role is required")
	}
	for name, r := range c.Roles {
		out.roles[name] = parseRole(&errs, "roles."+name, r)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseRole(errs *stint.FieldErrors, field string, r RoleConfig) role {
	out := role{principals: r.Principals, extensions: map[string]string{}, critical: map[string]string{}}
	if len(r.Principals) == 0 {
		errs.Add(field+".principals", "at least one principal is required")
	}
	for i, p := range r.Principals {
		if p == "" || strings.ContainsAny(p, ", \t\r\n\"'\\") {
			errs.Add(field+".principals", "principal %d: must be non-empty, without commas, spaces, quotes or backslashes", i)
		}
	}
	for _, e := range r.Extensions {
		if !knownExtensions[e] && !strings.Contains(e, "@") {
			errs.Add(field+".extensions", "unknown extension %q", e)
		}
		out.extensions[e] = ""
	}
	for k, v := range r.CriticalOptions {
		switch k {
		case "force-command":
			if strings.TrimSpace(v) == "" {
				errs.Add(field+".critical_options.force-command", "must not be empty")
			}
		case "source-address":
			for _, a := range strings.Split(v, ",") {
				if !validSourceAddress(a) {
					errs.Add(field+".critical_options.source-address", "%q is not an address or CIDR block", a)
				}
			}
		default:
			errs.Add(field+".critical_options."+k, "unknown option: must be force-command or source-address")
		}
		out.critical[k] = v
	}
	return out
}

func validSourceAddress(a string) bool {
	if _, _, err := net.ParseCIDR(a); err == nil {
		return true
	}
	return net.ParseIP(a) != nil
}

// Factory builds ssh providers. Providers built on the same data directory
// share one revocation store (DATA_DIR/ssh-krl.json). Factory.KRL and
// Factory.CAPublicKeys cover every resource built so far, for the server's
// /v1/ssh/krl and /v1/ssh/ca.pub. It is safe for concurrent use.
type Factory struct {
	mu        sync.Mutex
	stores    map[string]*krlStore // by data directory
	providers []*Provider
}

var _ stint.ProviderFactory = (*Factory)(nil)

// NewFactory returns an ssh provider factory.
func NewFactory() *Factory { return &Factory{stores: map[string]*krlStore{}} }

// Type returns "ssh".
func (f *Factory) Type() string { return Type }

// Validate checks an ssh resource's configuration without side effects. It
// returns the decoding error as is, or stint.FieldErrors with paths relative
// to the resource. A ca_key that does not parse is reported without its
// content.
func (f *Factory) Validate(spec stint.ResourceSpec) error {
	_, err := parseConfig(spec)
	return err
}

// New builds the provider of one ssh resource. Without ca_key it loads or
// generates DATA_DIR/ssh-ca. Returns the Validate errors, EINVALID if spec
// has no DataDir, or EINTERNAL if the CA key or revocation store cannot be
// read or written.
func (f *Factory) New(ctx context.Context, spec stint.ResourceSpec) (stint.Provider, error) {
	c, err := parseConfig(spec)
	if err != nil {
		return nil, err
	}
	if spec.DataDir == "" {
		return nil, stint.Errorf(stint.EINVALID, "resource %s: the ssh provider needs a data directory", spec.Name)
	}
	clock := spec.Clock
	if clock == nil {
		clock = stint.SystemClock
	}
	logger := spec.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if c.caKey == nil {
		if c.caKey, err = loadOrGenerateCA(spec.DataDir); err != nil {
			return nil, err
		}
	}
	st := f.stores[spec.DataDir]
	if st == nil {
		if st, err = openKRLStore(spec.DataDir, clock); err != nil {
			return nil, err
		}
		f.stores[spec.DataDir] = st
	}
	p := &Provider{
		resource: spec.Name, ca: c.caKey, keyType: c.keyType, roles: c.roles,
		krl: st, clock: clock, logger: logger.With("resource", spec.Name, "provider", Type),
	}
	f.providers = append(f.providers, p)
	p.logger.Info("ssh certificate authority ready", "ca", gossh.FingerprintSHA256(c.caKey.PublicKey()))
	return p, nil
}

// CAPublicKeys returns the CA public keys of every resource built so far,
// one authorized_keys line each, without duplicates: the content of
// /v1/ssh/ca.pub and of an sshd's TrustedUserCAKeys file. Empty before any
// New.
func (f *Factory) CAPublicKeys() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b []byte
	seen := map[string]bool{}
	for _, p := range f.providers {
		line := p.CAPublicKey()
		if !seen[string(line)] {
			seen[string(line)] = true
			b = append(b, line...)
		}
	}
	return b
}

// KRL returns one OpenSSH key revocation list covering the revocations of
// every resource built so far: the content of /v1/ssh/krl and of an sshd's
// RevokedKeys file. Before any New it is an empty, valid KRL. Returns
// EINTERNAL if the revocation store cannot be read.
func (f *Factory) KRL() ([]byte, error) {
	f.mu.Lock()
	stores := make([]*krlStore, 0, len(f.stores))
	for _, s := range f.stores {
		stores = append(stores, s)
	}
	f.mu.Unlock()
	var all []krlEntry
	var version uint64
	now := stint.SystemClock.Now()
	for _, s := range stores {
		es, v := s.snapshot()
		all = append(all, es...)
		version += v
		now = s.clock.Now()
	}
	return encodeKRL(version, now, all)
}
