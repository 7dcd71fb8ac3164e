package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version and build information",
		Args:  usageArgs(cobra.NoArgs),
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(e.stdout, "stint %s\n", version)
			fmt.Fprintf(e.stdout, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
						fmt.Fprintf(e.stdout, "%s: %s\n", s.Key, s.Value)
					}
				}
			}
		},
	}
}

func newWhoamiCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the principal of $STINT_TOKEN",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := e.client().WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, p)
			}
			fmt.Fprintf(e.stdout, "%s (%s)", p.Name, p.Kind)
			if len(p.Groups) > 0 {
				fmt.Fprintf(e.stdout, " groups: %v", p.Groups)
			}
			if p.Admin {
				fmt.Fprint(e.stdout, " admin")
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
