// Command stint is the Stint broker and its command-line client.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/client"
)

// Exit codes of CONTRACT section 2.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDenied      = 3
	exitTimeout     = 4
	exitUnreachable = 5
)

// exitError carries an exit code through cobra.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// withCode makes err exit with code.
func withCode(code int, err error) error { return &exitErr{code: code, err: err} }

// exitCode maps an error to the CLI's exit code.
func exitCode(err error) int {
	var e *exitErr
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, client.ErrUnreachable) {
		return exitUnreachable
	}
	switch stint.ErrorCode(err) {
	case stint.EINVALID:
		return exitUsage
	case stint.EDENIED:
		return exitDenied
	case stint.ETIMEOUT:
		return exitTimeout
	case stint.EUNAUTHORIZED:
		return exitUnreachable
	}
	return exitError
}

// errMessage is what the CLI prints for err.
func errMessage(err error) string {
	var se *stint.Error
	if errors.As(err, &se) && !errors.Is(err, client.ErrUnreachable) {
		return se.Message
	}
	return err.Error()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the stint command line and returns its exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCmd(stdin, stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) && ee.err == errSilent {
		return ee.code
	}
	fmt.Fprintln(stderr, "stint:", errMessage(err))
	if strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage // cobra's own usage errors
	}
	return exitCode(err)
}

// errSilent marks an exit code whose message was already printed.
var errSilent = errors.New("")

// env holds what every client command needs.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	addr, token    string
}

func (e *env) client() *client.Client { return client.New(e.addr, e.token) }

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "stint",
		Short:         "Just-in-time access for non-human identities",
		Long:          "Stint grants workloads short-lived access when policy allows, records every request, and revokes access by itself.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if e.addr == "" {
				e.addr = "http://127.0.0.1:8270"
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return withCode(exitUsage, err) })
	root.PersistentFlags().StringVar(&e.addr, "addr", os.Getenv("STINT_ADDR"), "server address ($STINT_ADDR)")
	e.token = os.Getenv("STINT_TOKEN")

	root.AddCommand(
		newServerCmd(e), newDevCmd(e),
		newRequestCmd(e), newExecCmd(e), newGrantsCmd(e), newShowCmd(e),
		newRenewCmd(e), newRevokeCmd(e), newCancelCmd(e),
		newApproveCmd(e), newRejectCmd(e), newActivateCmd(e),
		newAuditCmd(e), newPolicyCmd(e), newDiscoverCmd(e), newTokenCmd(e), newWindowsCmd(e), newReportCmd(e), newMigrateCmd(e), newVersionCmd(e), newWhoamiCmd(e),
	)
	return root
}

// usageArgs wraps cobra's arg validators so that a wrong count exits 2.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return withCode(exitUsage, err)
		}
		return nil
	}
}
