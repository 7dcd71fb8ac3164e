package ssh

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
)

// parseCAKey parses a PEM private key. Its errors never quote the key.
func parseCAKey(b []byte) (gossh.Signer, *stint.Error) {
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		var missing *gossh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, stint.Errorf(stint.EINVALID, "is encrypted; give an unencrypted key")
		}
		return nil, stint.Errorf(stint.EINVALID, "is not a PEM private key that can be parsed")
	}
	switch s.PublicKey().Type() {
	case gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521, gossh.KeyAlgoRSA:
	default:
		return nil, stint.Errorf(stint.EINVALID, "key type %s cannot sign certificates", s.PublicKey().Type())
	}
	if k, ok := s.PublicKey().(gossh.CryptoPublicKey); ok {
		if rk, ok := k.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
			return nil, stint.Errorf(stint.EINVALID, "RSA key must have at least 2048 bits")
		}
	}
	return s, nil
}

// loadOrGenerateCA reads dir/ssh-ca, or creates it (ed25519, mode 0600).
func loadOrGenerateCA(dir string) (gossh.Signer, error) {
	path := filepath.Join(dir, CAKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s, perr := parseCAKey(b)
		if perr != nil {
			return nil, stint.Errorf(stint.EINTERNAL, "the generated SSH CA key %s: %s", path, perr.Message)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot read the SSH CA key " + path, Err: err}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot create the data directory", Err: err}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot generate the SSH CA key", Err: err}
	}
	blk, err := gossh.MarshalPrivateKey(priv, "stint ssh ca")
	if err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot encode the SSH CA key", Err: err}
	}
	// Create it exclusively: if another process won the race, use its key.
	if err := writeFileExcl(path, pem.EncodeToMemory(blk)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return loadOrGenerateCA(dir)
		}
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot write the SSH CA key " + path, Err: err}
	}
	return gossh.NewSignerFromKey(priv)
}

// writeFileExcl writes data to a temporary file then links it to path,
// failing with os.ErrExist if path exists; the file never appears partial.
func writeFileExcl(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path)
}

// writeFileAtomic replaces path with data (mode 0600) by rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// newKeyPair makes a key pair of keyType and returns the public key and the
// private key in OpenSSH PEM format.
func newKeyPair(keyType, comment string) (gossh.PublicKey, []byte, error) {
	var priv crypto.Signer
	var err error
	switch keyType {
	case KeyTypeECDSA:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyTypeRSA:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, nil, err
	}
	pub, err := gossh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	blk, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	return pub, pem.EncodeToMemory(blk), nil
}

// parseCallerKey parses the caller's public key (authorized_keys format).
func parseCallerKey(s string) (gossh.PublicKey, error) {
	pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, stint.Errorf(stint.EINVALID, "ssh_public_key is not a public key in authorized_keys format")
	}
	if _, ok := pub.(*gossh.Certificate); ok {
		return nil, stint.Errorf(stint.EINVALID, "ssh_public_key must be a plain public key, not a certificate")
	}
	if k, ok := pub.(gossh.CryptoPublicKey); ok {
		if rk, ok := k.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
			return nil, stint.Errorf(stint.EINVALID, "ssh_public_key: an RSA key must have at least 2048 bits")
		}
	}
	return pub, nil
}
