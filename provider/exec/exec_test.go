package exec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/provider/providertest"
)

// writeScript writes an executable shell script into dir and returns its path.
func writeScript(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

// spec returns a ResourceSpec whose Decode decodes doc (YAML) strictly.
func spec(doc string) stint.ResourceSpec {
	return stint.ResourceSpec{
		Name: "legacy",
		Decode: func(v any) error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
			dec.KnownFields(true)
			return dec.Decode(v)
		},
		Clock: stint.SystemClock,
	}
}

// config renders a resource configuration; values are quoted as YAML/JSON strings.
func config(grant, revoke []string, extra string) string {
	g, _ := json.Marshal(grant)
	r, _ := json.Marshal(revoke)
	return "provider: exec\ngrant: " + string(g) + "\nrevoke: " + string(r) + "\n" + extra +
		"roles:\n  operator: {}\n  admin: { args: [--admin], env: { LEGACY_LEVEL: \"9\" } }\n"
}

func mustNew(tb testing.TB, doc string) stint.Provider {
	tb.Helper()
	p, err := exec.NewFactory().New(context.Background(), spec(doc))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return p
}

func newGrant(role string) *stint.Grant {
	g := providertest.NewGrant(time.Now(), "legacy/"+role, time.Hour)
	g.Reason = "nightly backup; with spaces & $symbols"
	g.Ticket = "OPS-42"
	return g
}

// legacy is a fake target: grant writes a marker file holding a password
// and prints it; revoke removes the marker.
type legacy struct {
	dir            string // markers
	grant, revoke  string
	calls, revokes string // logs of the arguments
}

func newLegacy(t *testing.T) *legacy {
	dir := t.TempDir()
	l := &legacy{dir: filepath.Join(dir, "markers"), calls: filepath.Join(dir, "calls"), revokes: filepath.Join(dir, "revokes")}
	if err := os.Mkdir(l.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l.grant = writeScript(t, dir, "grant.sh", `set -eu
markers=$1; shift
echo "$*" >> `+l.calls+`
pw="pw-$STINT_GRANT_ID"
printf '%s' "$pw" > "$markers/$STINT_GRANT_ID"
printf '{"env": {"LEGACY_USER": "%s", "LEGACY_PASSWORD": "%s"}, "files": {"ca.pem": "CA"}}\n' "$STINT_PRINCIPAL" "$pw"
`)
	l.revoke = writeScript(t, dir, "revoke.sh", `set -eu
echo "$STINT_GRANT_ID $*" >> `+l.revokes+`
rm -f "$1/$STINT_GRANT_ID"
`)
	return l
}

func (l *legacy) config(extra string) string {
	return config([]string{l.grant, l.dir}, []string{l.revoke, l.dir}, extra)
}

// hasAccess reports whether the marker of g holds the password of cred.
func (l *legacy) hasAccess(t *testing.T, g *stint.Grant, cred *stint.Credential) bool {
	b, err := os.ReadFile(filepath.Join(l.dir, g.ID))
	if errors.Is(err, os.ErrNotExist) {
		return false
	} else if err != nil {
		t.Fatal(err)
	}
	return string(b) == cred.Env["LEGACY_PASSWORD"]
}

func TestProvider_Conformance(t *testing.T) {
	l := newLegacy(t)
	providertest.Run(t, providertest.Harness{
		Provider:    mustNew(t, l.config("")),
		Grant:       func() *stint.Grant { return newGrant("operator") },
		CheckAccess: l.hasAccess,
	})
}

func TestProvider_Issue(t *testing.T) {
	t.Run("Credential", func(t *testing.T) {
		l := newLegacy(t)
		p := mustNew(t, l.config(""))
		g := newGrant("operator")
		cred, err := p.Issue(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		want := &stint.Credential{
			GrantID:   g.ID,
			ExpiresAt: *g.ExpiresAt,
			Env:       map[string]string{"LEGACY_USER": g.Principal, "LEGACY_PASSWORD": "pw-" + g.ID},
			Files:     map[string]string{"ca.pem": "CA"},
		}
		gotJSON, _ := json.Marshal(cred)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Fatalf("credential = %s, want %s", gotJSON, wantJSON)
		}
	})

	t.Run("RoleArgs", func(t *testing.T) {
		l := newLegacy(t)
		p := mustNew(t, l.config(""))
		g := newGrant("admin")
		if _, err := p.Issue(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if err := p.Revoke(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		calls, _ := os.ReadFile(l.calls)
		revokes, _ := os.ReadFile(l.revokes)
		if string(calls) != "--admin\n" {
			t.Errorf("grant args = %q, want --admin", calls)
		}
		if want := g.ID + " " + l.dir + " --admin\n"; string(revokes) != want {
			t.Errorf("revoke args = %q, want %q", revokes, want)
		}
	})

	t.Run("Environment", func(t *testing.T) {
		t.Setenv("STINT_TEST_SERVER_SECRET", "must-not-leak")
		dir := t.TempDir()
		dump := filepath.Join(dir, "env")
		grant := writeScript(t, dir, "grant.sh", "env > "+dump+"\n")
		p := mustNew(t, config([]string{grant}, []string{"/bin/true"}, ""))
		g := newGrant("admin")
		if _, err := p.Issue(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			got[k] = v
		}
		delete(got, "PWD") // set by the shell
		delete(got, "SHLVL")
		delete(got, "_")
		want := map[string]string{
			"PATH":             exec.DefaultPath,
			"STINT_GRANT_ID":   g.ID,
			"STINT_PRINCIPAL":  "svc/providertest",
			"STINT_RESOURCE":   "legacy",
			"STINT_ROLE":       "admin",
			"STINT_EXPIRES_AT": g.ExpiresAt.UTC().Format(time.RFC3339),
			"STINT_REASON":     g.Reason,
			"STINT_TICKET":     "OPS-42",
			"LEGACY_LEVEL":     "9",
		}
		if len(got) != len(want) {
			t.Errorf("environment = %v, want exactly %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}
	})

	t.Run("EmptyOutput", func(t *testing.T) {
		p := mustNew(t, config([]string{"/bin/true"}, []string{"/bin/true"}, ""))
		cred, err := p.Issue(context.Background(), newGrant("operator"))
		if err != nil {
			t.Fatal(err)
		}
		if cred.Env == nil || len(cred.Env) != 0 || cred.Files != nil {
			t.Fatalf("credential = %+v, want empty", cred)
		}
	})
}
