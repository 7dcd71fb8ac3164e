package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
)

// ClockSkew is how long before issue a certificate becomes valid.
const ClockSkew = time.Minute

// Provider issues SSH user certificates for one resource.
type Provider struct {
	resource string
	ca       gossh.Signer
	keyType  string
	roles    map[string]role
	krl      *krlStore
	clock    stint.Clock
	logger   *slog.Logger
}

var (
	_ stint.Provider        = (*Provider)(nil)
	_ stint.RevocationModer = (*Provider)(nil)
)

// CAPublicKey returns the CA public key as one authorized_keys line
// ("ssh-ed25519 AAAA... stint-ca\n"), for an sshd's TrustedUserCAKeys.
func (p *Provider) CAPublicKey() []byte {
	return append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(p.ca.PublicKey())), []byte(" stint-ca\n")...)
}

func (p *Provider) caLine() string {
	return string(bytes.TrimSpace(gossh.MarshalAuthorizedKey(p.ca.PublicKey())))
}

// KRL returns an OpenSSH key revocation list of the certificates this
// resource revoked that have not expired yet, for an sshd's RevokedKeys.
// Returns EINTERNAL if the revocation store holds a bad entry.
func (p *Provider) KRL() ([]byte, error) {
	entries, version := p.krl.snapshot()
	mine := entries[:0:0]
	ca := p.caLine()
	for _, e := range entries {
		if e.CA == ca {
			mine = append(mine, e)
		}
	}
	return encodeKRL(version, p.clock.Now(), mine)
}

// RevocationMode returns stint.RevocationEarly: revoked certificates go into
// the KRL. Open sessions survive; the KRL only gates new logins.
func (p *Provider) RevocationMode() string { return stint.RevocationEarly }

// Issue signs a user certificate for g: KeyId = g.ID, the role's principals,
// extensions and critical options, valid from one minute ago until
// *g.ExpiresAt. It signs g.ProviderData["ssh_public_key"] when set, and
// otherwise makes a key pair and returns its private key. It sets
// g.ProviderData["serial"] and ["ca"]; issuing again reuses the serial.
// Returns a permanent EINVALID for an unknown role, a grant without expiry
// or already expired, or a bad caller key, and EINTERNAL if signing fails.
func (p *Provider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	r, ok := p.roles[g.Role()]
	if !ok {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "resource %s has no role %q", p.resource, g.Role()))
	}
	if g.ExpiresAt == nil {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has no expiry", g.ID))
	}
	now := p.clock.Now()
	exp := g.ExpiresAt.UTC().Truncate(time.Second) // certificates count whole seconds
	if !exp.After(now) {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has already expired", g.ID))
	}

	files := map[string]string{}
	env := map[string]string{}
	var pub gossh.PublicKey
	if s := g.ProviderData[DataPublicKey]; s != "" {
		k, err := parseCallerKey(s)
		if err != nil {
			return nil, stint.Permanent(err)
		}
		pub = k
	} else {
		k, priv, err := newKeyPair(p.keyType, "stint-"+g.ID)
		if err != nil {
			return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot make an SSH key pair", Err: err}
		}
		pub = k
		files[FileKey] = string(priv)
		env[EnvKeyFile] = FileKey
	}

	serial, err := serialOf(g)
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot draw a certificate serial", Err: err}
	}
	cert := &gossh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        gossh.UserCert,
		KeyId:           g.ID,
		ValidPrincipals: append([]string(nil), r.principals...),
		ValidAfter:      uint64(max(now.Add(-ClockSkew).Unix(), 0)),
		ValidBefore:     uint64(exp.Unix()),
		Permissions: gossh.Permissions{
			CriticalOptions: copyMap(r.critical),
			Extensions:      copyMap(r.extensions),
		},
	}
	if err := cert.SignCert(rand.Reader, p.ca); err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot sign the SSH certificate", Err: err}
	}

	if g.ProviderData == nil {
		g.ProviderData = map[string]string{}
	}
	g.ProviderData[DataSerial] = strconv.FormatUint(serial, 10)
	g.ProviderData[DataCA] = gossh.FingerprintSHA256(p.ca.PublicKey())

	line := bytes.TrimSpace(gossh.MarshalAuthorizedKey(cert))
	files[FileCert] = string(line) + " " + g.ID + "\n"
	env[EnvCertFile] = FileCert
	env[EnvPrincipals] = strings.Join(r.principals, ",")
	p.logger.InfoContext(ctx, "ssh certificate issued", "grant", g.ID, "serial", serial,
		"principals", env[EnvPrincipals], "valid_before", exp, "caller_key", env[EnvKeyFile] == "")
	return &stint.Credential{GrantID: g.ID, ExpiresAt: exp, Env: env, Files: files}, nil
}

// serialOf returns the serial recorded in g, or a new random non-zero one.
func serialOf(g *stint.Grant) (uint64, error) {
	if s, err := strconv.ParseUint(g.ProviderData[DataSerial], 10, 64); err == nil && s != 0 {
		return s, nil
	}
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if s := binary.BigEndian.Uint64(b[:]); s != 0 {
			return s, nil
		}
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Revoke adds g's certificates to the KRL: by serial (g.ProviderData
// ["serial"]) and by key id (the grant id, which also catches a certificate
// whose serial was never recorded), until *g.ExpiresAt. It is idempotent; a
// grant without expiry or already expired needs nothing and returns nil.
// Returns EUNAVAILABLE if the revocation store cannot be written. Servers
// only refuse the certificate once they have the new KRL (Provider.KRL);
// open sessions survive.
func (p *Provider) Revoke(ctx context.Context, g *stint.Grant) error {
	if g.ExpiresAt == nil {
		return nil
	}
	serial, _ := strconv.ParseUint(g.ProviderData[DataSerial], 10, 64)
	e := krlEntry{CA: p.caLine(), Serial: serial, KeyID: g.ID, Expires: g.ExpiresAt.UTC()}
	if err := p.krl.add(e); err != nil {
		return err
	}
	p.logger.InfoContext(ctx, "ssh certificate revoked", "grant", g.ID, "serial", serial)
	return nil
}
