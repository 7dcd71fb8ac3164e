package token_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/token"
)

func readDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func keyFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	names, err := readDir(filepath.Join(dataDir, token.KeyDir))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestKeySet_Files(t *testing.T) {
	t.Run("Modes", func(t *testing.T) {
		data := t.TempDir()
		clock := newMockClock()
		_, p := mustProvider(t, data, clock)
		tok := mustIssue(t, p, newGrant(clock, "admin", time.Minute))

		dir := filepath.Join(data, token.KeyDir)
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("key dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
		}
		files := keyFiles(t, data)
		if want := []string{kidOf(t, tok) + ".pem"}; !slices.Equal(files, want) {
			t.Fatalf("key files = %v, want %v", files, want)
		}
		if fi, err := os.Stat(filepath.Join(dir, files[0])); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	})

	t.Run("TightensModes", func(t *testing.T) {
		data := t.TempDir()
		clock := newMockClock()
		_, p := mustProvider(t, data, clock)
		tok := mustIssue(t, p, newGrant(clock, "admin", time.Minute))
		dir := filepath.Join(data, token.KeyDir)
		file := filepath.Join(dir, kidOf(t, tok)+".pem")
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, 0o644); err != nil {
			t.Fatal(err)
		}
		mustProvider(t, data, clock)
		for path, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
			if fi, _ := os.Stat(path); fi.Mode().Perm() != want {
				t.Errorf("%s mode = %v, want %v", path, fi.Mode().Perm(), want)
			}
		}
	})

	t.Run("PersistedAcrossRestarts", func(t *testing.T) {
		data := t.TempDir()
		clock := newMockClock()
		_, p1 := mustProvider(t, data, clock)
		tok1 := mustIssue(t, p1, newGrant(clock, "admin", time.Hour))

		f2, p2 := mustProvider(t, data, clock)
		tok2 := mustIssue(t, p2, newGrant(clock, "admin", time.Hour))
		if kidOf(t, tok1) != kidOf(t, tok2) {
			t.Fatalf("kid changed across restarts: %s then %s", kidOf(t, tok1), kidOf(t, tok2))
		}
		if _, err := f2.Verify(tok1); err != nil {
			t.Fatalf("restarted factory rejects a token of the previous run: %v", err)
		}
	})

	t.Run("CorruptKey", func(t *testing.T) {
		data := t.TempDir()
		dir := filepath.Join(data, token.KeyDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := token.NewFactory().New(context.Background(), yamlSpec(data, newMockClock(), defaultConfig))
		if stint.ErrorCode(err) != stint.EINTERNAL {
			t.Fatalf("New with a corrupt key = %v, want EINTERNAL", err)
		}
	})

	t.Run("SharedAcrossResources", func(t *testing.T) {
		clock := newMockClock()
		f := token.NewFactory()
		data := t.TempDir()
		var toks []string
		for _, doc := range []string{defaultConfig, "provider: token\nkey_rotation: 7d\nroles:\n  admin: { audience: x }\n"} {
			p, err := f.New(context.Background(), yamlSpec(data, clock, doc))
			if err != nil {
				t.Fatal(err)
			}
			toks = append(toks, mustIssue(t, p, newGrant(clock, "admin", time.Minute)))
		}
		if kidOf(t, toks[0]) != kidOf(t, toks[1]) {
			t.Fatal("two token resources of one factory sign with different keys")
		}
	})
}

func TestKeySet_Rotation(t *testing.T) {
	// defaultConfig rotates every day.
	t.Run("RotatesAndRetires", func(t *testing.T) {
		data := t.TempDir()
		clock := newMockClock()
		f, p := mustProvider(t, data, clock)
		start := clock.Now()
		old := kidOf(t, mustIssue(t, p, newGrant(clock, "admin", time.Hour)))

		clock.Advance(24 * time.Hour)
		tok := mustIssue(t, p, newGrant(clock, "admin", time.Hour))
		fresh := kidOf(t, tok)
		if fresh == old {
			t.Fatal("no new key after the rotation period")
		}
		if kids := jwksKids(t, f); !slices.Equal(kids, []string{old, fresh}) {
			t.Fatalf("JWKS kids = %v, want old and new %v", kids, []string{old, fresh})
		}
		jwks, _ := f.JWKS()
		if _, _, err := verifyAsResourceServer(t, jwks, tok, "internal-api", clock.Now()); err != nil {
			t.Fatalf("new token does not verify: %v", err)
		}

		// Retired at start+1d; its last token expired at start+1h: kept for
		// one more rotation period after retirement.
		clock.Advance(24*time.Hour - time.Second)
		if kids := jwksKids(t, f); !slices.Contains(kids, old) {
			t.Fatalf("retired key dropped too early: %v", kids)
		}
		clock.Advance(time.Second)
		kids := jwksKids(t, f)
		if slices.Contains(kids, old) {
			t.Fatalf("retired key still published at %v: %v", clock.Now().Sub(start), kids)
		}
		if len(kids) != 2 || kids[0] != fresh {
			t.Fatalf("JWKS kids = %v, want %s and a third key", kids, fresh)
		}
		if files := keyFiles(t, data); slices.Contains(files, old+".pem") || len(files) != 2 {
			t.Fatalf("key files = %v, want the retired key deleted", files)
		}
	})

	t.Run("KeptWhileItsTokensLive", func(t *testing.T) {
		data := t.TempDir()
		clock := newMockClock()
		f, p := mustProvider(t, data, clock)
		long := mustIssue(t, p, newGrant(clock, "admin", 3*24*time.Hour)) // outlives the rotation
		old := kidOf(t, long)

		// Rotations happen daily (JWKS reads) while the token lives; a
		// restart in between must remember how long the key is needed.
		for range 2 {
			clock.Advance(24 * time.Hour)
			jwksKids(t, f)
		}
		f, _ = mustProvider(t, data, clock)
		clock.Advance(24*time.Hour - time.Second)
		if _, err := f.Verify(long); err != nil {
			t.Fatalf("long-lived token rejected before its expiry: %v", err)
		}
		if kids := jwksKids(t, f); !slices.Contains(kids, old) {
			t.Fatalf("key of a live token dropped: %v", kids)
		}
		// Dropped one rotation period after the last token's expiry.
		clock.Advance(24*time.Hour + time.Second)
		if kids := jwksKids(t, f); slices.Contains(kids, old) {
			t.Fatalf("key still published long after its tokens expired: %v", kids)
		}
	})

	t.Run("Explicit", func(t *testing.T) {
		clock := newMockClock()
		f, p := mustProvider(t, t.TempDir(), clock)
		before := mustIssue(t, p, newGrant(clock, "admin", time.Hour))
		if err := f.KeySet().Rotate(); err != nil {
			t.Fatal(err)
		}
		after := mustIssue(t, p, newGrant(clock, "admin", time.Hour))
		if kidOf(t, before) == kidOf(t, after) {
			t.Fatal("Rotate did not change the signing key")
		}
		for _, tok := range []string{before, after} {
			if _, err := f.Verify(tok); err != nil {
				t.Fatalf("Verify after Rotate: %v", err)
			}
		}
		if n := len(jwksKids(t, f)); n != 2 {
			t.Fatalf("JWKS has %d keys, want 2", n)
		}
	})

	t.Run("ConcurrentSigning", func(t *testing.T) {
		clock := newMockClock()
		f, p := mustProvider(t, t.TempDir(), clock)
		var wg sync.WaitGroup
		toks := make([][]string, 8)
		for i := range toks {
			wg.Go(func() {
				for range 10 {
					cred, err := p.Issue(context.Background(), newGrant(clock, "admin", time.Hour))
					if err != nil {
						t.Error(err)
						return
					}
					toks[i] = append(toks[i], cred.Env[token.EnvAccessToken])
				}
			})
		}
		wg.Go(func() {
			for range 5 {
				if err := f.KeySet().Rotate(); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		for _, ts := range toks {
			for _, tok := range ts {
				if _, err := f.Verify(tok); err != nil {
					t.Fatalf("token signed during rotation rejected: %v", err)
				}
			}
		}
	})
}
