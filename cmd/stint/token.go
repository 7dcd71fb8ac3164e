package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
)

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Make static bearer tokens"}
	var subject, kind string
	var groups []string
	newCmd := &cobra.Command{
		Use:   "new --subject NAME [--kind workload|human] [--group G]...",
		Short: "Generate a bearer token and the auth.tokens entry that holds only its SHA-256",
		Long: `Prints a new random bearer token once, on stderr, and on stdout the
auth.tokens entry to paste into stint.yaml, which holds only the token's
SHA-256. Give the token to the principal; Stint never stores it.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if subject == "" {
				return withCode(exitUsage, fmt.Errorf("--subject is required"))
			}
			if kind != stint.KindWorkload && kind != stint.KindHuman {
				return withCode(exitUsage, fmt.Errorf("--kind: %q is not workload or human", kind))
			}
			tok, err := authn.NewToken()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "token for %s (shown once): %s\n", subject, tok)
			fmt.Fprintf(e.stdout, "    - subject: %q\n      kind: %s\n", subject, kind)
			if len(groups) > 0 {
				fmt.Fprintf(e.stdout, "      groups: [")
				for i, g := range groups {
					if i > 0 {
						fmt.Fprint(e.stdout, ", ")
					}
					fmt.Fprintf(e.stdout, "%q", g)
				}
				fmt.Fprintln(e.stdout, "]")
			}
			fmt.Fprintf(e.stdout, "      sha256: %s\n", authn.HashToken(tok))
			return nil
		},
	}
	newCmd.Flags().StringVar(&subject, "subject", "", "the principal's name, e.g. svc/nightly-backup")
	newCmd.Flags().StringVar(&kind, "kind", stint.KindWorkload, "workload or human")
	newCmd.Flags().StringSliceVar(&groups, "group", nil, "a group of the principal (repeat)")
	cmd.AddCommand(newCmd)
	return cmd
}
