package ssh

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/stint-io/stint"
)

// KRL format constants, from OpenSSH's PROTOCOL.krl.
const (
	krlMagic               = "SSHKRL\n\x00"
	krlFormatVersion       = 1
	krlSectionCertificates = 1
	krlCertSerialList      = 0x20
	krlCertKeyID           = 0x23
)

// krlEntry is one revoked certificate (or grant): the CA that signed it, its
// serial (0: unknown) and key id, and when it expires anyway.
type krlEntry struct {
	CA      string    `json:"ca"` // authorized_keys line of the CA public key
	Serial  uint64    `json:"serial,omitempty"`
	KeyID   string    `json:"key_id"`
	Expires time.Time `json:"expires"`
}

type krlFile struct {
	Version uint64     `json:"version"`
	Revoked []krlEntry `json:"revoked"`
}

// krlStore keeps revoked certificates in DATA_DIR/ssh-krl.json (mode 0600).
// Entries whose certificates have expired are dropped at the next write and
// left out of every KRL.
type krlStore struct {
	mu    sync.Mutex
	path  string
	clock stint.Clock
	data  krlFile
}

func openKRLStore(dir string, clock stint.Clock) (*krlStore, error) {
	s := &krlStore{path: filepath.Join(dir, KRLFile), clock: clock}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot create the data directory", Err: err}
		}
	case err != nil:
		return nil, &stint.Error{Code: stint.EINTERNAL, Message: "cannot read the SSH revocation list " + s.path, Err: err}
	default:
		if err := json.Unmarshal(b, &s.data); err != nil {
			return nil, &stint.Error{Code: stint.EINTERNAL, Message: "the SSH revocation list " + s.path + " is corrupt", Err: err}
		}
	}
	return s, nil
}

// add records e and writes the file. Adding an entry already present (same
// CA, serial and key id) only extends its expiry.
func (s *krlStore) add(e krlEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	kept := s.data.Revoked[:0:0]
	found := false
	for _, old := range s.data.Revoked {
		if old.CA == e.CA && old.Serial == e.Serial && old.KeyID == e.KeyID {
			found = true
			if e.Expires.After(old.Expires) {
				old.Expires = e.Expires
			}
		}
		if old.Expires.After(now) {
			kept = append(kept, old)
		}
	}
	if !found && e.Expires.After(now) {
		kept = append(kept, e)
	}
	next := krlFile{Version: s.data.Version + 1, Revoked: kept}
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return &stint.Error{Code: stint.EINTERNAL, Message: "cannot encode the SSH revocation list", Err: err}
	}
	if err := writeFileAtomic(s.path, b); err != nil {
		return &stint.Error{Code: stint.EUNAVAILABLE, Message: "cannot write the SSH revocation list", Err: err}
	}
	s.data = next
	return nil
}

// snapshot returns the unexpired entries and the store's version.
func (s *krlStore) snapshot() ([]krlEntry, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var out []krlEntry
	for _, e := range s.data.Revoked {
		if e.Expires.After(now) {
			out = append(out, e)
		}
	}
	return out, s.data.Version
}

// encodeKRL builds an OpenSSH KRL revoking the certificates of entries: one
// KRL_SECTION_CERTIFICATES per CA, with a serial list and a key id list.
func encodeKRL(version uint64, generated time.Time, entries []krlEntry) ([]byte, error) {
	type caSection struct {
		key     gossh.PublicKey
		serials map[uint64]bool
		keyIDs  map[string]bool
	}
	byCA := map[string]*caSection{}
	for _, e := range entries {
		sec := byCA[e.CA]
		if sec == nil {
			k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(e.CA))
			if err != nil {
				return nil, &stint.Error{Code: stint.EINTERNAL, Message: "the SSH revocation list holds a bad CA key", Err: err}
			}
			sec = &caSection{key: k, serials: map[uint64]bool{}, keyIDs: map[string]bool{}}
			byCA[e.CA] = sec
		}
		if e.Serial != 0 {
			sec.serials[e.Serial] = true
		}
		if e.KeyID != "" {
			sec.keyIDs[e.KeyID] = true
		}
	}
	cas := make([]string, 0, len(byCA))
	for ca := range byCA {
		cas = append(cas, ca)
	}
	sort.Strings(cas)

	b := []byte(krlMagic)
	b = binary.BigEndian.AppendUint32(b, krlFormatVersion)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(max(generated.Unix(), 0)))
	b = binary.BigEndian.AppendUint64(b, 0) // flags
	b = appendString(b, nil)                // reserved
	b = appendString(b, []byte("stint"))    // comment
	for _, ca := range cas {
		sec := byCA[ca]
		var data []byte
		data = appendString(data, sec.key.Marshal())
		data = appendString(data, nil) // reserved
		if len(sec.serials) > 0 {
			serials := make([]uint64, 0, len(sec.serials))
			for s := range sec.serials {
				serials = append(serials, s)
			}
			sort.Slice(serials, func(i, j int) bool { return serials[i] < serials[j] })
			var list []byte
			for _, s := range serials {
				list = binary.BigEndian.AppendUint64(list, s)
			}
			data = append(data, krlCertSerialList)
			data = appendString(data, list)
		}
		if len(sec.keyIDs) > 0 {
			ids := make([]string, 0, len(sec.keyIDs))
			for id := range sec.keyIDs {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			var list []byte
			for _, id := range ids {
				list = appendString(list, []byte(id))
			}
			data = append(data, krlCertKeyID)
			data = appendString(data, list)
		}
		b = append(b, krlSectionCertificates)
		b = appendString(b, data)
	}
	return b, nil
}

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
