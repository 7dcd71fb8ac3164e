package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
)

func newGrantsCmd(e *env) *cobra.Command {
	var (
		states         []string
		principal, acc string
		limit          int
		all, jsonOut   bool
		mine, review   bool
	)
	cmd := &cobra.Command{
		Use:   "grants",
		Short: "List grants, newest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := stint.GrantFilter{Principal: principal, Access: acc, Limit: limit, Decidable: mine, Review: review}
			for _, s := range states {
				for _, part := range strings.Split(s, ",") {
					st := stint.State(strings.TrimSpace(part))
					if !st.Valid() {
						return withCode(exitUsage, fmt.Errorf("--state: unknown state %q", part))
					}
					f.State = append(f.State, st)
				}
			}
			var out []*stint.Grant
			for {
				gs, next, err := e.client().FindGrants(cmd.Context(), f)
				if err != nil {
					return err
				}
				out = append(out, gs...)
				if next == "" || !all {
					break
				}
				f.Cursor = next
			}
			if jsonOut {
				if out == nil {
					out = []*stint.Grant{}
				}
				return writeJSON(e.stdout, out)
			}
			printGrantTable(e.stdout, out)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only grants in these states (repeat or comma-separate)")
	cmd.Flags().StringVar(&principal, "principal", "", "only grants of this principal")
	cmd.Flags().StringVar(&acc, "access", "", "only grants of this resource/role")
	cmd.Flags().IntVar(&limit, "limit", 100, "page size")
	cmd.Flags().BoolVar(&all, "all", false, "fetch every page")
	cmd.Flags().BoolVar(&mine, "mine", false, "only pending requests that you may decide")
	cmd.Flags().BoolVar(&review, "review", false, "only break-glass grants not yet reviewed (review one with stint approve ID)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print a JSON array")
	return cmd
}

func newShowCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one grant with its history",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, hist, err := e.client().FindGrantWithHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				if hist == nil {
					hist = []*stint.AuditRecord{}
				}
				return writeJSON(e.stdout, grantJSON{Grant: g, History: hist})
			}
			printGrant(e.stdout, g, time.Now())
			fmt.Fprintln(e.stdout, "history:")
			for _, r := range hist {
				line := fmt.Sprintf("  %s  %-24s %s", r.Time.UTC().Format(time.RFC3339), r.Type, r.Actor)
				if r.Reason != "" {
					line += "  " + r.Reason
				}
				fmt.Fprintln(e.stdout, line)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the grant with its history as JSON")
	return cmd
}

// transitionCmd builds the commands that move one grant and print it.
func transitionCmd(e *env, use, short string, setup func(*cobra.Command), act func(cmd *cobra.Command, id string) (*stint.Grant, []string, error)) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, notes, err := act(cmd, args[0])
			if g != nil {
				if jsonOut {
					if jerr := writeJSON(e.stdout, grantJSON{Grant: g, Notes: notes}); jerr != nil {
						return jerr
					}
				} else {
					fmt.Fprintf(e.stdout, "grant %s is %s\n", g.ID, g.State)
					for _, n := range notes {
						fmt.Fprintln(e.stdout, "note:", n)
					}
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the grant as JSON")
	if setup != nil {
		setup(cmd)
	}
	return cmd
}

func newRevokeCmd(e *env) *cobra.Command {
	var reason string
	var force bool
	return transitionCmd(e, "revoke ID", "Revoke a grant now (exit 1 if the provider has not confirmed)",
		func(c *cobra.Command) {
			c.Flags().StringVar(&reason, "reason", "", "why (recorded)")
			c.Flags().BoolVar(&force, "force", false, "admins: close a grant whose revocation keeps failing, after cleaning up by hand")
		},
		func(cmd *cobra.Command, id string) (*stint.Grant, []string, error) {
			g, err := e.client().RevokeGrant(cmd.Context(), id, reason, force)
			if err != nil && g != nil && g.State == stint.StateRevoking {
				return g, nil, withCode(exitError, err)
			}
			return g, nil, err
		})
}

func newCancelCmd(e *env) *cobra.Command {
	return transitionCmd(e, "cancel ID", "Withdraw your pending or scheduled request", nil,
		func(cmd *cobra.Command, id string) (*stint.Grant, []string, error) {
			g, err := e.client().CancelGrant(cmd.Context(), id)
			return g, nil, err
		})
}

func newRenewCmd(e *env) *cobra.Command {
	var ttl string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "renew ID",
		Short: "Extend an active grant within the policy's max_ttl and its window",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d time.Duration
			if ttl != "" {
				var err error
				if d, err = stint.ParseDuration(ttl); err != nil {
					return withCode(exitUsage, fmt.Errorf("--ttl: %w", err))
				}
			}
			res, err := e.client().RenewGrant(cmd.Context(), args[0], d)
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, grantJSON{Grant: res.Grant, Credential: res.Credential, Notes: res.Notes})
			}
			fmt.Fprintf(e.stdout, "grant %s now expires at %s\n", res.Grant.ID, fmtTime(res.Grant.ExpiresAt))
			for _, n := range res.Notes {
				fmt.Fprintln(e.stdout, "note:", n)
			}
			printCredential(e.stdout, res.Credential)
			return nil
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "", "new duration from now (default: the grant's ttl)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the grant as JSON")
	return cmd
}

func newActivateCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "activate ID",
		Short: "Collect the credential of your approved request (the TTL starts now)",
		Long: `Once a pending request has all its approvals, its requester collects the
credential with this command (request --wait and exec do it by themselves).
The credential is shown once; the grant's TTL counts from now.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := e.client().ActivateGrant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, grantJSON{Grant: res.Grant, Credential: res.Credential, Notes: res.Notes})
			}
			printGrant(e.stdout, res.Grant, time.Now())
			printCredential(e.stdout, res.Credential)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the grant with its credential as JSON")
	return cmd
}

func newApproveCmd(e *env) *cobra.Command {
	var comment string
	return transitionCmd(e, "approve ID", "Approve a pending request", func(c *cobra.Command) {
		c.Flags().StringVar(&comment, "comment", "", "a comment, recorded with the decision")
	}, func(cmd *cobra.Command, id string) (*stint.Grant, []string, error) {
		res, err := e.client().ApproveGrant(cmd.Context(), id, comment)
		if err != nil {
			return nil, nil, err
		}
		return res.Grant, res.Notes, nil
	})
}

func newRejectCmd(e *env) *cobra.Command {
	var reason string
	cmd := transitionCmd(e, "reject ID", "Reject a pending request", func(c *cobra.Command) {
		c.Flags().StringVar(&reason, "reason", "", "why (required, recorded)")
	}, func(cmd *cobra.Command, id string) (*stint.Grant, []string, error) {
		if reason == "" {
			return nil, nil, withCode(exitUsage, fmt.Errorf("--reason is required"))
		}
		g, err := e.client().RejectGrant(cmd.Context(), id, reason)
		return g, nil, err
	})
	return cmd
}
