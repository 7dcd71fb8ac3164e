package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/stint-io/stint"
)

// Provider runs the grant and revoke commands of one resource. It is safe
// for concurrent use; commands for different grants may run at once.
type Provider struct {
	cfg *config
}

var (
	_ stint.Provider        = (*Provider)(nil)
	_ stint.RevocationModer = (*Provider)(nil)
	_ stint.RoleChecker     = (*Provider)(nil)
)

// RevocationMode returns the configured mode: stint.RevocationEarly unless
// the resource says `revocation: expiry-only`.
func (p *Provider) RevocationMode() string { return p.cfg.revocation }

// Issue runs the grant command for g and returns the credential it printed.
// If the command exits 0 but prints something other than the expected JSON,
// Issue runs the revoke command to undo the grant (best effort) and fails.
// Errors (all EUNAVAILABLE unless said otherwise):
//   - an unknown role or a grant without expiry: permanent EINVALID;
//   - a missing or non-executable command: permanent;
//   - invalid output: permanent;
//   - a non-zero exit (the message carries the end of stderr) or a timeout: transient.
func (p *Provider) Issue(ctx context.Context, g *stint.Grant) (*stint.Credential, error) {
	r, err := p.role(g)
	if err != nil {
		return nil, err
	}
	if g.ExpiresAt == nil {
		return nil, stint.Permanent(stint.Errorf(stint.EINVALID, "grant %s has no expiry", g.ID))
	}
	out, err := p.run(ctx, "grant", p.cfg.grant, r, g)
	if err != nil {
		return nil, err
	}
	cred, err := parseOutput(out)
	if err != nil {
		if len(p.cfg.revoke) > 0 {
			if rerr := p.runRevoke(ctx, r, g); rerr != nil {
				p.cfg.logger.Error("cannot undo a grant whose output was invalid", "grant", g.ID, "err", rerr)
			}
		}
		return nil, stint.Permanent(err)
	}
	cred.GrantID = g.ID
	cred.ExpiresAt = *g.ExpiresAt
	return cred, nil
}

// Revoke runs the revoke command for g; without one it returns nil. The
// command must succeed when the access is already gone. Returns a permanent
// EINVALID if g's role is no longer configured (close it with --force after
// cleaning up by hand), and EUNAVAILABLE if the command fails or times out.
func (p *Provider) Revoke(ctx context.Context, g *stint.Grant) error {
	if len(p.cfg.revoke) == 0 {
		return nil
	}
	r, err := p.role(g)
	if err != nil {
		return err
	}
	return p.runRevoke(ctx, r, g)
}

func (p *Provider) runRevoke(ctx context.Context, r role, g *stint.Grant) error {
	_, err := p.run(ctx, "revoke", p.cfg.revoke, r, g)
	return err
}

func (p *Provider) role(g *stint.Grant) (role, error) {
	r, ok := p.cfg.roles[g.Role()]
	if !ok {
		return role{}, stint.Permanent(stint.Errorf(stint.EINVALID, "resource %s has no role %q", p.cfg.resource, g.Role()))
	}
	return r, nil
}

// CheckRoles checks that the grant and revoke commands exist and are
// executable regular files. Returns stint.FieldErrors ("grant", "revoke").
func (p *Provider) CheckRoles(ctx context.Context) error {
	var errs stint.FieldErrors
	for field, argv := range map[string][]string{"grant": p.cfg.grant, "revoke": p.cfg.revoke} {
		if len(argv) == 0 {
			continue
		}
		fi, err := os.Stat(argv[0])
		switch {
		case err != nil:
			errs.Add(field, "command %s: %v", argv[0], errors.Unwrap(err))
		case !fi.Mode().IsRegular():
			errs.Add(field, "command %s is not a regular file", argv[0])
		case fi.Mode().Perm()&0o111 == 0:
			errs.Add(field, "command %s is not executable", argv[0])
		}
	}
	return errs.Err()
}

// output is what the grant command may print.
type output struct {
	Env   map[string]string `json:"env"`
	Files map[string]string `json:"files"`
}

// parseOutput turns the grant command's stdout into a credential. Its
// errors never quote the output, which holds secrets.
func parseOutput(b []byte) (*stint.Credential, error) {
	cred := &stint.Credential{Env: map[string]string{}}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return cred, nil
	}
	bad := func(why string) error {
		return stint.Errorf(stint.EUNAVAILABLE,
			`grant command output is not {"env": {...}, "files": {...}}: %s`, why)
	}
	var out output
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, bad("invalid JSON")
		case errors.As(err, &typ) && typ.Field == "":
			return nil, bad("not a JSON object")
		case errors.As(err, &typ):
			return nil, bad("field " + typ.Field + " has the wrong type (values must be strings)")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return nil, bad("unknown field")
		default:
			return nil, bad("invalid JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("data after the JSON object")
	}
	for k := range out.Env {
		if !envName.MatchString(k) {
			return nil, bad("env: invalid variable name")
		}
	}
	for k := range out.Files {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\\\x00") {
			return nil, bad("files: names must be plain file names")
		}
	}
	if out.Env != nil {
		cred.Env = out.Env
	}
	if len(out.Files) > 0 {
		cred.Files = out.Files
	}
	return cred, nil
}
