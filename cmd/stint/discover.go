package main

import (
	"context"
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/broker"
	"github.com/stint-io/stint/internal/httpapi"
)

// discoverRequest is the body of POST /v1/discover.
type discoverRequest struct {
	Resource string `json:"resource"`
}

// discoverResponse is its answer.
type discoverResponse struct {
	Runs []*stint.DiscoveryRun `json:"runs"`
}

// mountDiscover serves POST /v1/discover.
func mountDiscover(api *httpapi.Server, b *broker.Service) {
	api.HandleAuthenticated("POST /v1/discover", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req discoverRequest
		if err := api.DecodeJSON(w, r, &req); err != nil {
			api.WriteError(w, r, err)
			return
		}
		runs, err := b.Discover(r.Context(), req.Resource)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, r, http.StatusOK, discoverResponse{Runs: runs})
	}))
}

func newDiscoverCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "discover [RESOURCE]",
		Short: "Find standing privileges on targets that support it (results are kept for the report)",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req discoverRequest
			if len(args) == 1 {
				req.Resource = args[0]
			}
			var res discoverResponse
			if err := e.client().Do(cmd.Context(), http.MethodPost, "/v1/discover", req, &res); err != nil {
				return err
			}
			privs := []stint.StandingPrivilege{}
			for _, run := range res.Runs {
				privs = append(privs, run.Privileges...)
			}
			if jsonOut {
				return writeJSON(e.stdout, privs)
			}
			return printPrivileges(cmd.Context(), e, res.Runs)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print a JSON array of standing privileges")
	return cmd
}

func printPrivileges(_ context.Context, e *env, runs []*stint.DiscoveryRun) error {
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no resource supports discovery")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tPRINCIPAL\tPRIVILEGE\tDETAIL")
	for _, run := range runs {
		for _, p := range run.Privileges {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Resource, p.Principal, p.Privilege, p.Detail)
		}
	}
	tw.Flush()
	for _, run := range runs {
		fmt.Fprintf(e.stdout, "%s: %d standing privileges found\n", run.Resource, len(run.Privileges))
	}
	return nil
}
