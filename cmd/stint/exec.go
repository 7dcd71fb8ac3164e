package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
)

func newExecCmd(e *env) *cobra.Command {
	var f requestFlags
	cmd := &cobra.Command{
		Use:   "exec RESOURCE/ROLE [flags] -- CMD [ARGS...]",
		Short: "Run a command with short-lived access, revoked when it exits",
		Long: `Requests access (waiting for approval when needed), runs CMD with the
credential's variables in its environment and its files in a private directory
($STINT_CREDENTIALS_DIR, mode 0700), revokes the grant when CMD exits (also on
SIGINT/SIGTERM, which are forwarded to CMD), and exits with CMD's exit code.`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return withCode(exitUsage, errors.New("usage: stint exec RESOURCE/ROLE [flags] -- CMD [ARGS...]"))
			}
			req, err := f.accessRequest(args[0])
			if err != nil {
				return err
			}
			timeout, err := f.waitTimeout()
			if err != nil {
				return err
			}
			return runExec(cmd.Context(), e, req, timeout, args[1:])
		},
	}
	f.register(cmd, false)
	return cmd
}

func runExec(ctx context.Context, e *env, req stint.GrantRequest, timeout time.Duration, argv []string) error {
	// Take signals from here on, so that an interrupt, a termination or a
	// closed terminal (SIGHUP) while waiting or running still ends with the
	// grant revoked and the credential files removed.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	c := e.client()
	// While waiting, any of those signals stops the wait.
	wctx, stopWait := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	res, err := obtain(wctx, e, c, req, true, timeout)
	interrupted := wctx.Err() != nil
	stopWait()
	if err != nil {
		return err
	}
	g := res.Grant
	if interrupted && g.State == stint.StateActive {
		// Signalled just as the credential arrived: give it back unused.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		if _, err := c.RevokeGrant(rctx, g.ID, "stint exec: interrupted before the command ran", false); err != nil {
			fmt.Fprintf(e.stderr, "stint: warning: revocation of %s not confirmed: %s (the server retries until it is)\n", g.ID, errMessage(err))
		}
		return withCode(exitError, fmt.Errorf("interrupted before the command ran; grant %s revoked", g.ID))
	}
	for len(sigs) > 0 { // signals that only ended the wait
		<-sigs
	}
	if g.State != stint.StateActive || res.Credential == nil {
		fmt.Fprintf(e.stderr, "stint: grant %s is %s: %s\n", g.ID, g.State, g.Detail)
		if err := stateExit(g); err != nil {
			return err
		}
		return withCode(exitError, errSilent)
	}
	code, runErr := runWithCredential(ctx, e, res.Credential, argv, sigs)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	if _, err := c.RevokeGrant(rctx, g.ID, "stint exec: command exited", false); err != nil {
		fmt.Fprintf(e.stderr, "stint: warning: revocation of %s not confirmed: %s (the server retries until it is)\n", g.ID, errMessage(err))
	}
	if runErr != nil {
		return runErr
	}
	return withCode(code, errSilent)
}

// runWithCredential runs argv with the credential in its environment and
// files, forwarding signals, and returns its exit code.
func runWithCredential(ctx context.Context, e *env, cred *stint.Credential, argv []string, sigs <-chan os.Signal) (int, error) {
	dir, err := os.MkdirTemp("", "stint-cred-")
	if err != nil {
		return 0, fmt.Errorf("credentials directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return 0, err
	}
	for name, content := range cred.Files {
		if name != filepath.Base(name) || name == "." || name == ".." {
			return 0, fmt.Errorf("credential file name %q is not a plain file name", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return 0, fmt.Errorf("write credential file: %w", err)
		}
	}
	// The command gets the grant's credential, not Stint's own bearer
	// token: it cannot ask the broker for more access in the caller's name.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STINT_TOKEN=") {
			env = append(env, kv)
		}
	}
	for k, v := range cred.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, "STINT_CREDENTIALS_DIR="+dir, "STINT_GRANT_ID="+cred.GrantID,
		"STINT_EXPIRES_AT="+cred.ExpiresAt.UTC().Format(time.RFC3339))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	if err := cmd.Start(); err != nil {
		return 127, withCode(127, fmt.Errorf("run %s: %w", argv[0], err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case err == nil:
				return 0, nil
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ee.ExitCode(), nil
			default:
				return 1, err
			}
		}
	}
}
