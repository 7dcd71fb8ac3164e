package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/stint-io/stint"
)

// DefaultKeyRotation is how long a signing key is used before a new one
// replaces it.
const DefaultKeyRotation = 30 * 24 * time.Hour

// MinKeyRotation is the shortest key_rotation a configuration may ask for.
const MinKeyRotation = time.Hour

// PEM headers of a key file.
const (
	headerCreated   = "Created"    // when the key was generated (RFC 3339)
	headerKeepUntil = "Keep-Until" // the key stays published at least until then
)

// KeySet holds the ES256 signing keys shared by every token resource of a
// server, one PEM file per key (mode 0600) in a directory (mode 0700). The
// key id (kid) is the RFC 7638 JWK thumbprint (SHA-256, base64url).
//
// The newest key signs. When it is older than the rotation period, a new key
// is generated at the next signing or JWKS read. A retired key stays
// published in the JWKS until every token it signed has expired, plus one
// rotation period of margin (and at least one rotation period after it was
// retired); then its file is deleted. To know when that is across restarts,
// each file records in a "Keep-Until" header the latest expiry it signed plus
// one rotation period, rewritten at most about once per rotation period.
//
// A KeySet is safe for concurrent use.
type KeySet struct {
	dir    string
	clock  stint.Clock
	logger *slog.Logger

	mu       sync.Mutex
	rotation time.Duration
	keys     []*signingKey // oldest first; the last one signs
}

type signingKey struct {
	kid       string
	priv      *ecdsa.PrivateKey
	created   time.Time
	keepUntil time.Time // zero if it never signed
}

// OpenKeySet opens (creating if needed) the key directory dir and loads its
// keys. rotation is the rotation period (DefaultKeyRotation if zero). It
// tightens the modes of the directory and key files if they are looser than
// 0700 and 0600. Returns EINTERNAL if the directory or a key file cannot be
// read or parsed.
func OpenKeySet(dir string, rotation time.Duration, clock stint.Clock, logger *slog.Logger) (*KeySet, error) {
	if rotation <= 0 {
		rotation = DefaultKeyRotation
	}
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ks := &KeySet{dir: dir, clock: clock, logger: logger, rotation: rotation}
	if err := ks.load(); err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot open the token key directory", Err: err}
	}
	return ks, nil
}

func (ks *KeySet) load() error {
	if err := os.MkdirAll(ks.dir, 0o700); err != nil {
		return err
	}
	if err := tightenMode(ks.dir, 0o700, ks.logger); err != nil {
		return err
	}
	entries, err := os.ReadDir(ks.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(ks.dir, name)) // left by a crash mid-write
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, ".pem") {
			continue
		}
		path := filepath.Join(ks.dir, name)
		if err := tightenMode(path, 0o600, ks.logger); err != nil {
			return err
		}
		k, err := readKey(path)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ks.keys = append(ks.keys, k)
	}
	sortKeys(ks.keys)
	return nil
}

func tightenMode(path string, mode os.FileMode, logger *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&^mode != 0 {
		logger.Warn("tightening the mode of a token key path", "path", path,
			"mode", fi.Mode().Perm().String(), "want", mode.String())
		return os.Chmod(path, mode)
	}
	return nil
}

func sortKeys(keys []*signingKey) {
	sort.SliceStable(keys, func(i, j int) bool {
		if !keys[i].created.Equal(keys[j].created) {
			return keys[i].created.Before(keys[j].created)
		}
		return keys[i].kid < keys[j].kid
	})
}

func readKey(path string) (*signingKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("not a PEM PRIVATE KEY")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("not an EC P-256 key")
	}
	k := &signingKey{priv: priv}
	if k.kid, err = thumbprint(priv); err != nil {
		return nil, err
	}
	if k.created, err = time.Parse(time.RFC3339, block.Headers[headerCreated]); err != nil {
		return nil, fmt.Errorf("bad or missing %s header", headerCreated)
	}
	if v := block.Headers[headerKeepUntil]; v != "" {
		if k.keepUntil, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, fmt.Errorf("bad %s header", headerKeepUntil)
		}
	}
	return k, nil
}

// thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of the public key, base64url.
func thumbprint(priv *ecdsa.PrivateKey) (string, error) {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	b, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// writeKey writes k to its file atomically (temporary file, then rename).
func (ks *KeySet) writeKey(k *signingKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return err
	}
	headers := map[string]string{headerCreated: k.created.UTC().Format(time.RFC3339)}
	if !k.keepUntil.IsZero() {
		headers[headerKeepUntil] = k.keepUntil.UTC().Format(time.RFC3339)
	}
	f, err := os.CreateTemp(ks.dir, ".tmp-*.pem") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op once renamed
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Headers: headers, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), ks.path(k))
}

func (ks *KeySet) path(k *signingKey) string { return filepath.Join(ks.dir, k.kid+".pem") }

// shortenRotation sets the rotation period to d if d is shorter: resources
// share the key set, so the strictest key_rotation wins.
func (ks *KeySet) shortenRotation(d time.Duration) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if d > 0 && d < ks.rotation {
		ks.rotation = d
	}
}

// Rotate generates a new key that signs from now on. The previous key stays
// published as described on KeySet. Returns EINTERNAL if the key cannot be
// written.
func (ks *KeySet) Rotate() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if _, err := ks.generate(); err != nil {
		return &stint.Error{Code: stint.EINTERNAL, Message: "cannot rotate the token signing key", Err: err}
	}
	ks.prune()
	return nil
}

// generate makes, persists and appends a new signing key. Callers hold mu.
func (ks *KeySet) generate() (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	kid, err := thumbprint(priv)
	if err != nil {
		return nil, err
	}
	k := &signingKey{kid: kid, priv: priv, created: ks.clock.Now().UTC()}
	// Never let the new key sort before the current signer, whatever the clock did.
	if n := len(ks.keys); n > 0 && !k.created.After(ks.keys[n-1].created) {
		k.created = ks.keys[n-1].created.Add(time.Second)
	}
	if err := ks.writeKey(k); err != nil {
		return nil, err
	}
	ks.keys = append(ks.keys, k)
	ks.logger.Info("token signing key generated", "kid", kid)
	return k, nil
}

// maintain rotates the signing key if it is due and deletes retired keys
// that are no longer needed. Callers hold mu.
func (ks *KeySet) maintain() error {
	now := ks.clock.Now()
	if n := len(ks.keys); n == 0 || now.Sub(ks.keys[n-1].created) >= ks.rotation {
		if _, err := ks.generate(); err != nil {
			return err
		}
	}
	ks.prune()
	return nil
}

// prune deletes retired keys whose tokens have all expired. Callers hold mu.
func (ks *KeySet) prune() {
	now := ks.clock.Now()
	kept := ks.keys[:0]
	for i, k := range ks.keys {
		if i < len(ks.keys)-1 {
			until := ks.keys[i+1].created.Add(ks.rotation) // retired at the next key's creation
			if k.keepUntil.After(until) {
				until = k.keepUntil
			}
			if !now.Before(until) {
				if err := os.Remove(ks.path(k)); err == nil || os.IsNotExist(err) {
					ks.logger.Info("retired token signing key deleted", "kid", k.kid)
					continue
				} else {
					ks.logger.Error("cannot delete a retired token signing key", "kid", k.kid, "err", err)
				}
			}
		}
		kept = append(kept, k)
	}
	clear(ks.keys[len(kept):])
	ks.keys = kept
}

// signer returns the key that signs a token expiring at exp, after rotating
// if due, and records exp in the key's Keep-Until so that the key outlives
// the token.
func (ks *KeySet) signer(exp time.Time) (*signingKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.maintain(); err != nil {
		return nil, err
	}
	k := ks.keys[len(ks.keys)-1]
	if exp.After(k.keepUntil) {
		// Round up by one rotation period so the file is rewritten rarely.
		c := *k
		c.keepUntil = exp.UTC().Add(ks.rotation).Truncate(time.Second)
		if err := ks.writeKey(&c); err != nil {
			return nil, err
		}
		k.keepUntil = c.keepUntil
	}
	return k, nil
}

// publicKeys returns the published public keys, oldest first.
func (ks *KeySet) publicKeys() []jose.JSONWebKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	out := make([]jose.JSONWebKey, 0, len(ks.keys))
	for _, k := range ks.keys {
		out = append(out, jose.JSONWebKey{
			Key:       &k.priv.PublicKey,
			KeyID:     k.kid,
			Algorithm: string(jose.ES256),
			Use:       "sig",
		})
	}
	return out
}

// JWKS returns the JSON Web Key Set {"keys": [...]} of every published public
// key (kid, alg ES256, use sig), rotating and pruning first if due. Returns
// EINTERNAL if a due rotation cannot write its key.
func (ks *KeySet) JWKS() ([]byte, error) {
	ks.mu.Lock()
	err := ks.maintain()
	ks.mu.Unlock()
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot rotate the token signing key", Err: err}
	}
	return json.Marshal(jose.JSONWebKeySet{Keys: ks.publicKeys()})
}
