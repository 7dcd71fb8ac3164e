package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/client"
	"github.com/stint-io/stint/internal/broker"
)

// requestFlags are the flags of request, shared with exec.
type requestFlags struct {
	ttl, timeout   string
	reason, ticket string
	sshKey         string
	wait, json     bool
}

func (f *requestFlags) register(cmd *cobra.Command, withWait bool) {
	cmd.Flags().StringVar(&f.ttl, "ttl", "", "how long the access should last (for example 15m, 2h, 1d); default: the policy's ttl")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why the access is needed (recorded; some policies require it)")
	cmd.Flags().StringVar(&f.ticket, "ticket", "", "a ticket or change id (recorded; some policies require it)")
	cmd.Flags().StringVar(&f.sshKey, "ssh-public-key", "", "a public key file to have certified (ssh resources); default: Stint makes a key pair")
	cmd.Flags().StringVar(&f.timeout, "timeout", "", "how long to wait for approval before giving up (exit 4); default: no limit")
	if withWait {
		cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for approval when the request is pending")
		cmd.Flags().BoolVar(&f.json, "json", false, "print the grant as JSON")
	}
}

// accessRequest builds the request, or a usage error.
func (f *requestFlags) accessRequest(access string) (stint.GrantRequest, error) {
	req := stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: access, Reason: f.reason, Ticket: f.ticket}}
	if f.sshKey != "" {
		b, err := os.ReadFile(f.sshKey)
		if err != nil {
			return req, withCode(exitUsage, fmt.Errorf("--ssh-public-key: %w", err))
		}
		req.SSHPublicKey = strings.TrimSpace(string(b))
	}
	if f.ttl != "" {
		d, err := stint.ParseDuration(f.ttl)
		if err != nil {
			return req, withCode(exitUsage, fmt.Errorf("--ttl: %w", err))
		}
		req.TTL = d
	}
	return req, nil
}

func (f *requestFlags) waitTimeout() (time.Duration, error) {
	if f.timeout == "" {
		return 0, nil
	}
	d, err := stint.ParseDuration(f.timeout)
	if err != nil {
		return 0, withCode(exitUsage, fmt.Errorf("--timeout: %w", err))
	}
	return d, nil
}

func newRequestCmd(e *env) *cobra.Command {
	var f requestFlags
	cmd := &cobra.Command{
		Use:   "request RESOURCE/ROLE",
		Short: "Ask for access; prints the grant and, when active, the credential",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := f.accessRequest(args[0])
			if err != nil {
				return err
			}
			timeout, err := f.waitTimeout()
			if err != nil {
				return err
			}
			res, err := obtain(cmd.Context(), e, e.client(), req, f.wait, timeout)
			if res != nil && res.Grant != nil {
				if f.json {
					if jerr := writeJSON(e.stdout, grantJSON{Grant: res.Grant, Credential: res.Credential, Notes: res.Notes}); jerr != nil {
						return jerr
					}
				} else {
					printGrant(e.stdout, res.Grant, time.Now())
					for _, n := range res.Notes {
						fmt.Fprintln(e.stdout, "note:", n)
					}
					printCredential(e.stdout, res.Credential)
					if res.Grant.State == stint.StatePending && !f.wait {
						fmt.Fprintf(e.stdout, "pending approval: once approved, `stint activate %s` collects the credential (or request with --wait)\n", res.Grant.ID)
					}
				}
			}
			if err != nil {
				return err
			}
			return stateExit(res.Grant)
		},
	}
	f.register(cmd, true)
	return cmd
}

// stateExit maps a final grant state to the exit code of CONTRACT section 2.
func stateExit(g *stint.Grant) error {
	switch g.State {
	case stint.StateDenied, stint.StateRejected, stint.StateCancelled:
		return withCode(exitDenied, errSilent)
	case stint.StateFailed:
		return withCode(exitError, errSilent)
	}
	return nil
}

// obtain requests access and, when wait is set and the request is pending,
// waits for the decision and collects the credential.
func obtain(ctx context.Context, e *env, c *client.Client, req stint.GrantRequest, wait bool, timeout time.Duration) (*stint.GrantResult, error) {
	res, err := c.RequestGrant(ctx, req)
	if err != nil || !wait || res.Grant.State != stint.StatePending {
		return res, err
	}
	return waitApproval(ctx, e, c, res.Grant, timeout)
}

// waitApproval polls a pending grant until it is decided; once approved it
// collects the credential. Exits 4 when timeout runs out.
func waitApproval(ctx context.Context, e *env, c *client.Client, g *stint.Grant, timeout time.Duration) (*stint.GrantResult, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tty := isTerminal(e.stderr)
	fmt.Fprintf(e.stderr, "grant %s is pending approval (%d needed from %v)", g.ID, g.ApprovalsRequired, g.Approvers)
	if !tty {
		fmt.Fprintln(e.stderr)
	}
	delay := 500 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(e.stderr)
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				return &stint.GrantResult{Grant: g}, withCode(exitError, fmt.Errorf("interrupted while waiting for approval of %s; it stays pending (stint activate %s collects it once approved, stint cancel %s withdraws it)", g.ID, g.ID, g.ID))
			}
			return &stint.GrantResult{Grant: g}, withCode(exitTimeout, fmt.Errorf("timed out waiting for approval of %s; it stays pending (stint activate %s collects it once approved, stint cancel %s withdraws it)", g.ID, g.ID, g.ID))
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
		cur, err := c.FindGrant(ctx, g.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return nil, err
		}
		g = cur
		if tty {
			fmt.Fprint(e.stderr, ".")
		}
		switch {
		case g.State != stint.StatePending:
			if tty {
				fmt.Fprintln(e.stderr)
			}
			return &stint.GrantResult{Grant: g}, nil
		case broker.Approved(g):
			if tty {
				fmt.Fprintln(e.stderr, " approved")
			}
			return c.ActivateGrant(ctx, g.ID)
		}
	}
}
