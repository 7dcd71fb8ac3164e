package exec

import (
	"context"
	"errors"
	"io/fs"
	osexec "os/exec"
	"slices"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

const (
	maxStdout = 1 << 20 // the grant command's JSON output
	maxStderr = 1 << 10 // kept in errors
	// waitDelay bounds how long a finished (or killed) command's stray
	// children may hold its output open.
	waitDelay = 2 * time.Second
)

// errTimeout is the cause of a command's own timeout, told apart from the
// caller's context ending.
var errTimeout = errors.New("command timed out")

// env returns the environment of a command run for g.
func env(g *stint.Grant, r role) []string {
	var expires string
	if g.ExpiresAt != nil {
		expires = g.ExpiresAt.UTC().Format(time.RFC3339)
	}
	e := []string{
		"PATH=" + DefaultPath,
		"STINT_GRANT_ID=" + g.ID,
		"STINT_PRINCIPAL=" + g.Principal,
		"STINT_RESOURCE=" + g.Resource(),
		"STINT_ROLE=" + g.Role(),
		"STINT_EXPIRES_AT=" + expires,
		"STINT_REASON=" + envSafe(g.Reason),
		"STINT_TICKET=" + envSafe(g.Ticket),
	}
	// os/exec keeps the last of duplicate names: the role may override PATH
	// (and only PATH: Validate refuses STINT_ names).
	return append(e, r.env...)
}

// run runs argv (plus the role's args) for g with the configured timeout
// and returns its stdout. The command runs in its own process group, killed
// whole on timeout.
func (p *Provider) run(ctx context.Context, what string, argv []string, r role, g *stint.Grant) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.timeout, errTimeout)
	defer cancel()

	cmd := osexec.CommandContext(ctx, argv[0], append(slices.Clone(argv[1:]), r.args...)...)
	cmd.Env = env(g, r)
	cmd.Dir = "/"
	stdout := &capped{max: maxStdout}
	stderr := &capped{max: maxStderr, tail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	killGroupOnCancel(cmd)

	start := time.Now()
	err := cmd.Run()
	log := p.cfg.logger.With("command", what, "grant", g.ID, "elapsed", time.Since(start))
	if errors.Is(err, osexec.ErrWaitDelay) {
		// The command itself succeeded; a background child kept the pipes open.
		log.Warn("command left a child holding its output open")
		err = nil
	}
	switch {
	case err == nil:
		if stdout.overflow {
			return nil, stint.Permanent(stint.Errorf(stint.EUNAVAILABLE,
				"%s command printed more than %d bytes", what, maxStdout))
		}
		log.Debug("command succeeded")
		return stdout.buf, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, stint.Permanent(&stint.Error{Code: stint.EUNAVAILABLE,
			Message: what + " command " + argv[0] + " does not exist", Err: err})
	case errors.Is(err, fs.ErrPermission):
		return nil, stint.Permanent(&stint.Error{Code: stint.EUNAVAILABLE,
			Message: what + " command " + argv[0] + " is not executable", Err: err})
	case context.Cause(ctx) == errTimeout:
		log.Warn("command timed out", "timeout", p.cfg.timeout)
		return nil, stint.Errorf(stint.EUNAVAILABLE, "%s command timed out after %s%s",
			what, stint.FormatDuration(p.cfg.timeout), stderr.suffix())
	case ctx.Err() != nil:
		return nil, &stint.Error{Code: stint.EUNAVAILABLE, Message: what + " command interrupted", Err: ctx.Err()}
	}
	var exit *osexec.ExitError
	if errors.As(err, &exit) {
		log.Warn("command failed", "exit", exit.ExitCode())
		return nil, stint.Errorf(stint.EUNAVAILABLE, "%s command failed (%s)%s", what, exit.ProcessState, stderr.suffix())
	}
	return nil, &stint.Error{Code: stint.EUNAVAILABLE, Message: what + " command could not run", Err: err}
}

// capped is an io.Writer keeping at most max bytes: the first ones, or with
// tail the last ones.
type capped struct {
	max      int
	tail     bool
	buf      []byte
	overflow bool
}

func (c *capped) Write(b []byte) (int, error) {
	c.buf = append(c.buf, b...)
	if len(c.buf) > c.max {
		c.overflow = true
		if c.tail {
			c.buf = append(c.buf[:0], c.buf[len(c.buf)-c.max:]...)
		} else {
			c.buf = c.buf[:c.max]
		}
	}
	return len(b), nil
}

// suffix returns ": STDERR" (trimmed, valid UTF-8) or "" if stderr was empty.
func (c *capped) suffix() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(c.buf), "?"))
	if s == "" {
		return ""
	}
	if c.overflow {
		s = "..." + s
	}
	return ": " + s
}

// envSafe drops NUL bytes, which an environment cannot carry: a caller's
// text must never keep a grant or revoke command from running.
func envSafe(s string) string { return strings.ReplaceAll(s, "\x00", "") }
