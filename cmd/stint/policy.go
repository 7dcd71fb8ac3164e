package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/broker"
	"github.com/stint-io/stint/internal/config"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Check a configuration and explain decisions"}
	cmd.AddCommand(newPolicyCheckCmd(e), newPolicyExplainCmd(e))
	return cmd
}

func loadOffline(path string) (*config.Config, error) {
	f, _ := builtinProviders()
	cfg, err := config.Load(path, f, config.Options{Logger: slog.New(slog.DiscardHandler), Clock: stint.SystemClock})
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	return cfg, nil
}

func newPolicyCheckCmd(e *env) *cobra.Command {
	var path string
	var offline bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a configuration offline; errors name file, line and field (exit 2)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadOffline(path)
			if err != nil {
				fmt.Fprintln(e.stderr, err.Error())
				return withCode(exitUsage, errSilent)
			}
			if !offline {
				if err := checkLive(cmd.Context(), e, cfg); err != nil {
					fmt.Fprintln(e.stderr, err.Error())
					return withCode(exitUsage, errSilent)
				}
			}
			fmt.Fprintf(e.stdout, "%s: ok (%d resources, %d policies, %d tokens)\n", cfg.File, len(cfg.Resources), len(cfg.Policy.Policies()), len(cfg.Auth.Tokens))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "stint.yaml", "configuration file")
	cmd.Flags().BoolVar(&offline, "offline", false, "do not contact the targets (by default roles are checked on targets that are reachable)")
	return cmd
}

// checkLive checks each resource against its target where the provider can
// (roles that must exist). An unreachable target is a warning, not an error.
func checkLive(ctx context.Context, e *env, cfg *config.Config) error {
	f, _ := builtinProviders()
	var errs []error
	for _, name := range cfg.ResourceOrder {
		r := cfg.Resources[name]
		lc, ok := f[r.Type].(stint.LiveChecker)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := lc.CheckLive(cctx, r.Spec)
		cancel()
		switch {
		case err == nil:
		case stint.ErrorCode(err) == stint.EUNAVAILABLE:
			fmt.Fprintf(e.stderr, "warning: resource %s: target not reachable, roles not checked: %s\n", name, stint.ErrorMessage(err))
		default:
			errs = append(errs, r.Problems(err))
		}
	}
	return errors.Join(errs...)
}

func newPolicyExplainCmd(e *env) *cobra.Command {
	var principal, access, at, ttl, reason, ticket, path string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "explain --principal NAME --access RESOURCE/ROLE [--at TIME]",
		Short: "Which policies match and why each allows, needs approval, or denies",
		Long: `Asks the server (or, with --config, reads the file offline) which policies
match a principal and an access, and why each allows, needs approval, or denies.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if access == "" {
				return withCode(exitUsage, fmt.Errorf("--access is required"))
			}
			req := stint.ExplainRequest{Principal: principal, Access: access, Reason: reason, Ticket: ticket}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--at: %q is not an RFC 3339 time", at))
				}
				req.At = t
			}
			if ttl != "" {
				d, err := stint.ParseDuration(ttl)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--ttl: %w", err))
				}
				req.TTL = stint.Duration(d)
			}
			var d *stint.Decision
			var err error
			if path != "" {
				d, err = explainOffline(path, req)
			} else {
				d, err = e.client().Explain(cmd.Context(), req)
			}
			if err != nil {
				return err
			}
			if jsonOut {
				out := decisionJSON{Decision: d, TTL: stint.Duration(d.TTL), MaxTTL: stint.Duration(d.MaxTTL)}
				if d.Approval != nil {
					out.ApprovalTimeout = stint.Duration(d.Approval.Timeout)
				}
				return writeJSON(e.stdout, out)
			}
			printDecision(e.stdout, d)
			return nil
		},
	}
	cmd.Flags().StringVar(&principal, "principal", "", "the principal's name (default: yourself)")
	cmd.Flags().StringVar(&access, "access", "", "RESOURCE/ROLE")
	cmd.Flags().StringVar(&at, "at", "", "evaluate at this RFC 3339 time (default: now)")
	cmd.Flags().StringVar(&ttl, "ttl", "", "a requested ttl")
	cmd.Flags().StringVar(&reason, "reason", "", "a request reason")
	cmd.Flags().StringVar(&ticket, "ticket", "", "a request ticket")
	cmd.Flags().StringVar(&path, "config", "", "explain from this configuration file, offline")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// explainOffline explains from a configuration file without a server.
func explainOffline(path string, req stint.ExplainRequest) (*stint.Decision, error) {
	cfg, err := loadOffline(path)
	if err != nil {
		return nil, err
	}
	if _, role := stint.SplitAccess(req.Access); role == "" {
		return nil, stint.Errorf(stint.EINVALID, "--access: %q is not of the form resource/role", req.Access)
	}
	rt := &broker.Runtime{Policy: cfg.Policy, LookupPrincipal: lookupPrincipal(cfg)}
	if req.Principal == "" {
		return nil, withCode(exitUsage, fmt.Errorf("--principal is required with --config"))
	}
	at := req.At
	if at.IsZero() {
		at = time.Now()
	}
	ar := stint.AccessRequest{Access: req.Access, TTL: time.Duration(req.TTL), Reason: req.Reason, Ticket: req.Ticket}
	d := cfg.Policy.Decide(broker.ExplainPrincipal(rt, req.Principal), ar, nil, at.UTC())
	return &d, nil
}

// decisionJSON is a decision with its durations, as the API answers it.
type decisionJSON struct {
	*stint.Decision
	TTL             stint.Duration `json:"ttl"`
	MaxTTL          stint.Duration `json:"max_ttl,omitempty"`
	ApprovalTimeout stint.Duration `json:"approval_timeout,omitempty"`
}
