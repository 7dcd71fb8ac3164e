package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
)

func newAuditCmd(e *env) *cobra.Command {
	var since, grant string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit trail (JSON lines with --json)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := stint.AuditFilter{GrantID: grant, Limit: 1000}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--since: %w", err))
				}
				f.Since = t
			}
			c := e.client()
			enc := json.NewEncoder(e.stdout)
			for {
				recs, err := c.FindAudit(cmd.Context(), f)
				if err != nil {
					return err
				}
				if jsonOut {
					for _, r := range recs {
						if err := enc.Encode(r); err != nil {
							return err
						}
					}
				} else if err := audit.WriteText(e.stdout, recs); err != nil {
					return err
				}
				if len(recs) < f.Limit {
					return nil
				}
				f.AfterSeq = recs[len(recs)-1].Seq
			}
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records newer than this: a duration ago (24h, 7d) or an RFC 3339 time")
	cmd.Flags().StringVar(&grant, "grant", "", "only the records of this grant")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON lines")

	var verifyJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the tamper-evident chain; exits 1 and names the first bad record if it is broken",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := e.client().VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if verifyJSON {
				if err := writeJSON(e.stdout, res); err != nil {
					return err
				}
			} else if res.OK {
				fmt.Fprintf(e.stdout, "audit chain intact: %d records, last seq %d\n", res.Records, res.LastSeq)
			} else {
				fmt.Fprintf(e.stdout, "audit chain BROKEN at record %d: %s\n", res.BadSeq, res.Problem)
			}
			if !res.OK {
				return withCode(exitError, errSilent)
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&verifyJSON, "json", false, "print the result as JSON")
	cmd.AddCommand(verify)
	return cmd
}

// parseSince reads a duration ago or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := stint.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}
