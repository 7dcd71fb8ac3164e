package exec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/exec"
)

func TestProvider_IssueErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		body      string // grant script; "" uses path
		path      string
		permanent bool
		contains  string
	}{
		{name: "ExitCode", body: "echo 'boom: legacy unreachable' >&2\nexit 3\n", contains: "failed (exit status 3): boom: legacy unreachable"},
		{name: "BadJSON", body: "echo 'not json'\n", permanent: true, contains: "invalid JSON"},
		{name: "UnknownField", body: `echo '{"env": {"K": "s3cr3t"}, "bogus": 1}'` + "\n", permanent: true, contains: "unknown field"},
		{name: "NotObject", body: `echo '["s3cr3t"]'` + "\n", permanent: true, contains: "not a JSON object"},
		{name: "WrongType", body: `echo '{"env": {"K": 1}}'` + "\n", permanent: true, contains: "wrong type"},
		{name: "TrailingData", body: `echo '{"env": {}} {"env": {"K": "s3cr3t"}}'` + "\n", permanent: true, contains: "after the JSON"},
		{name: "BadEnvName", body: `echo '{"env": {"A-B": "s3cr3t"}}'` + "\n", permanent: true, contains: "variable name"},
		{name: "BadFileName", body: `echo '{"files": {"../x": "s3cr3t"}}'` + "\n", permanent: true, contains: "plain file names"},
		{name: "MissingCommand", path: filepath.Join(dir, "missing"), permanent: true, contains: "does not exist"},
		{name: "NotExecutable", path: notExec, permanent: true, contains: "not executable"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = writeScript(t, dir, "grant"+strconv.Itoa(i)+".sh", tt.body)
			}
			p := mustNew(t, config([]string{path}, []string{"/bin/true"}, ""))
			cred, err := p.Issue(context.Background(), newGrant("operator"))
			if err == nil {
				t.Fatalf("Issue = %+v, want an error", cred)
			}
			if stint.ErrorCode(err) != stint.EUNAVAILABLE || stint.IsPermanent(err) != tt.permanent {
				t.Errorf("Issue = %v (permanent %v), want EUNAVAILABLE, permanent %v", err, stint.IsPermanent(err), tt.permanent)
			}
			if !strings.Contains(stint.ErrorMessage(err), tt.contains) {
				t.Errorf("message %q does not contain %q", stint.ErrorMessage(err), tt.contains)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q quotes the command's output", err)
			}
		})
	}

	t.Run("UnknownRole", func(t *testing.T) {
		p := mustNew(t, config([]string{"/bin/true"}, []string{"/bin/true"}, ""))
		for _, call := range []func(*stint.Grant) error{
			func(g *stint.Grant) error { _, err := p.Issue(context.Background(), g); return err },
			func(g *stint.Grant) error { return p.Revoke(context.Background(), g) },
		} {
			if err := call(newGrant("nope")); stint.ErrorCode(err) != stint.EINVALID || !stint.IsPermanent(err) {
				t.Errorf("error = %v, want a permanent EINVALID", err)
			}
		}
	})

	t.Run("BadOutputUndoes", func(t *testing.T) {
		l := newLegacy(t)
		grant := writeScript(t, t.TempDir(), "grant.sh", `touch "$1/$STINT_GRANT_ID"; echo oops`+"\n")
		p := mustNew(t, config([]string{grant, l.dir}, []string{l.revoke, l.dir}, ""))
		g := newGrant("operator")
		if _, err := p.Issue(context.Background(), g); err == nil {
			t.Fatal("Issue succeeded on bad output")
		}
		if _, err := os.Stat(filepath.Join(l.dir, g.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("access left in place after bad output: %v", err)
		}
	})

	t.Run("StderrCapped", func(t *testing.T) {
		grant := writeScript(t, t.TempDir(), "grant.sh",
			"i=0; while [ $i -lt 300 ]; do echo 'noise noise noise' >&2; i=$((i+1)); done\necho 'the real reason' >&2\nexit 1\n")
		p := mustNew(t, config([]string{grant}, []string{"/bin/true"}, ""))
		_, err := p.Issue(context.Background(), newGrant("operator"))
		msg := stint.ErrorMessage(err)
		if len(msg) > 1200 || !strings.HasSuffix(msg, "the real reason") {
			t.Fatalf("message (%d bytes) = %q, want at most ~1 KB ending with the last line", len(msg), msg)
		}
	})
}

func TestProvider_Timeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	grant := writeScript(t, dir, "grant.sh", "sleep 60 &\necho $! > "+pidFile+"\nwait\n")
	p := mustNew(t, config([]string{grant}, []string{"/bin/true"}, "timeout: 300ms\n"))

	start := time.Now()
	_, err := p.Issue(context.Background(), newGrant("operator"))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Issue took %v with a 300ms timeout", elapsed)
	}
	if stint.ErrorCode(err) != stint.EUNAVAILABLE || stint.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Issue = %v, want a transient timeout", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was killed with its group: gone, or a zombie awaiting its
	// reaper. SIGKILL is asynchronous: the kernel may still be tearing the
	// process down, so give it a moment.
	deadline := time.Now().Add(3 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("child of the timed-out command still runs")
		}
		time.Sleep(10 * time.Millisecond)
	}

	t.Run("CallerCancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.Issue(ctx, newGrant("operator"))
		if err == nil || strings.Contains(err.Error(), "timed out") {
			t.Fatalf("Issue with a cancelled context = %v, want interrupted", err)
		}
	})
}

// processGone reports whether pid no longer runs (absent, or a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestProvider_Revoke(t *testing.T) {
	t.Run("Failure", func(t *testing.T) {
		revoke := writeScript(t, t.TempDir(), "revoke.sh", "echo 'cannot reach legacy' >&2\nexit 2\n")
		p := mustNew(t, config([]string{"/bin/true"}, []string{revoke}, ""))
		err := p.Revoke(context.Background(), newGrant("operator"))
		if stint.ErrorCode(err) != stint.EUNAVAILABLE || stint.IsPermanent(err) || !strings.Contains(err.Error(), "cannot reach legacy") {
			t.Fatalf("Revoke = %v, want a transient failure with stderr", err)
		}
	})
	t.Run("ExpiryOnlyWithoutCommand", func(t *testing.T) {
		p := mustNew(t, "provider: exec\ngrant: [/bin/true]\nrevocation: expiry-only\nroles:\n  operator: {}\n")
		if m := p.(stint.RevocationModer).RevocationMode(); m != stint.RevocationExpiryOnly {
			t.Fatalf("RevocationMode = %q", m)
		}
		if err := p.Revoke(context.Background(), newGrant("operator")); err != nil {
			t.Fatalf("Revoke = %v", err)
		}
	})
	t.Run("EarlyByDefault", func(t *testing.T) {
		p := mustNew(t, config([]string{"/bin/true"}, []string{"/bin/true"}, ""))
		if m := p.(stint.RevocationModer).RevocationMode(); m != stint.RevocationEarly {
			t.Fatalf("RevocationMode = %q", m)
		}
	})
}

func TestFactory_Validate(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		fields []string // nil: valid
		decode bool     // a decoding error, not FieldErrors
	}{
		{name: "Valid", doc: config([]string{"/bin/grant", "a b"}, []string{"/bin/revoke"}, "timeout: 1m\nrevocation: early\n")},
		{name: "ExpiryOnlyNoRevoke", doc: "provider: exec\ngrant: [/bin/g]\nrevocation: expiry-only\nroles:\n  r: {}\n"},
		{name: "RelativeCommand", doc: config([]string{"legacy-grant"}, []string{"./revoke"}, ""), fields: []string{"grant", "revoke"}},
		{name: "MissingGrant", doc: "provider: exec\nrevoke: [/bin/r]\nroles:\n  r: {}\n", fields: []string{"grant"}},
		{name: "MissingRevoke", doc: "provider: exec\ngrant: [/bin/g]\nroles:\n  r: {}\n", fields: []string{"revoke"}},
		{name: "BadTimeout", doc: config([]string{"/g"}, []string{"/r"}, "timeout: forever\n"), fields: []string{"timeout"}},
		{name: "ZeroTimeout", doc: config([]string{"/g"}, []string{"/r"}, "timeout: 0s\n"), fields: []string{"timeout"}},
		{name: "BadRevocation", doc: config([]string{"/g"}, []string{"/r"}, "revocation: never\n"), fields: []string{"revocation"}},
		{name: "NoRoles", doc: "provider: exec\ngrant: [/g]\nrevoke: [/r]\n", fields: []string{"roles"}},
		{name: "ReservedEnv", doc: "provider: exec\ngrant: [/g]\nrevoke: [/r]\nroles:\n  r: { env: { STINT_ROLE: x } }\n", fields: []string{"roles.r.env.STINT_ROLE"}},
		{name: "BadEnvName", doc: "provider: exec\ngrant: [/g]\nrevoke: [/r]\nroles:\n  r: { env: { \"A-B\": x } }\n", fields: []string{"roles.r.env.A-B"}},
		{name: "UnknownField", doc: "provider: exec\ngrant: [/g]\nrevoke: [/r]\nshell: true\nroles:\n  r: {}\n", decode: true},
		{name: "UnknownRoleField", doc: "provider: exec\ngrant: [/g]\nrevoke: [/r]\nroles:\n  r: { argz: [x] }\n", decode: true},
		{name: "GrantNotList", doc: "provider: exec\ngrant: /g --x\nrevoke: [/r]\nroles:\n  r: {}\n", decode: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := exec.NewFactory().Validate(spec(tt.doc))
			var fe stint.FieldErrors
			switch {
			case tt.decode:
				if err == nil || errors.As(err, &fe) {
					t.Fatalf("Validate = %v, want a decoding error", err)
				}
			case tt.fields == nil:
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
			default:
				if !errors.As(err, &fe) || len(fe) != len(tt.fields) {
					t.Fatalf("Validate = %v, want errors on %v", err, tt.fields)
				}
				for i, f := range tt.fields {
					if fe[i].Field != f {
						t.Errorf("error %d on %q, want %q", i, fe[i].Field, f)
					}
				}
			}
		})
	}
}

func TestProvider_CheckRoles(t *testing.T) {
	dir := t.TempDir()
	good := writeScript(t, dir, "good.sh", "true\n")
	p := mustNew(t, config([]string{good}, []string{filepath.Join(dir, "missing")}, ""))
	err := p.(stint.RoleChecker).CheckRoles(context.Background())
	var fe stint.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "revoke" {
		t.Fatalf("CheckRoles = %v, want one error on revoke", err)
	}
	if err := mustNew(t, config([]string{good}, []string{good}, "")).(stint.RoleChecker).CheckRoles(context.Background()); err != nil {
		t.Fatalf("CheckRoles = %v", err)
	}
}
