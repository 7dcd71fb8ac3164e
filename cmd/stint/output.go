package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stint-io/stint"
	"golang.org/x/term"
)

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// grantJSON is a grant with the extras some commands add.
type grantJSON struct {
	*stint.Grant
	Credential *stint.Credential    `json:"credential,omitempty"`
	Notes      []string             `json:"notes,omitempty"`
	History    []*stint.AuditRecord `json:"history,omitempty"`
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printGrant prints a grant for people.
func printGrant(w io.Writer, g *stint.Grant, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("grant", g.ID)
	row("state", string(g.State))
	row("access", g.Access)
	row("principal", g.Principal)
	row("policy", g.Policy)
	row("reason", g.Reason)
	row("ticket", g.Ticket)
	row("requested", fmtTime(&g.RequestedAt))
	if g.ActivatedAt != nil {
		row("activated", fmtTime(g.ActivatedAt))
	}
	if g.ExpiresAt != nil {
		exp := fmtTime(g.ExpiresAt)
		if g.State == stint.StateActive {
			exp += " (in " + stint.FormatDuration(g.ExpiresAt.Sub(now).Round(time.Second)) + ")"
		}
		row("expires", exp)
	}
	if g.EndedAt != nil {
		row("ended", fmtTime(g.EndedAt))
	}
	if g.TTL > 0 {
		row("ttl", g.TTL.String())
	}
	if g.MaxTTL > 0 {
		row("max ttl", g.MaxTTL.String())
	}
	row("provider", g.Provider)
	issued := g.ActivatedAt != nil && g.State != stint.StateFailed
	switch {
	case !issued:
	case g.Revocation == stint.RevocationExpiryOnly:
		row("revocation", "expiry-only: the credential stays valid until it expires; revoking marks it inactive for introspection")
	case g.Revocation == stint.RevocationEarly:
		row("revocation", "early: revoking cuts access at once")
	}
	if g.ApprovalsRequired > 0 {
		var got []string
		for _, a := range g.Approvals {
			got = append(got, a.By+" "+a.Decision)
		}
		row("approvals", fmt.Sprintf("%d needed from %s; %s", g.ApprovalsRequired, strings.Join(g.Approvers, ", "), orNone(strings.Join(got, ", "))))
	}
	if g.BreakGlass {
		row("break-glass", "yes (flagged for review)")
	}
	if g.Window != nil {
		row("window", fmt.Sprintf("%s, %s to %s", g.Window.Policy, fmtTime(&g.Window.Opens), fmtTime(&g.Window.Closes)))
	}
	row("detail", g.Detail)
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}

// printCredential prints a credential as shell exports.
func printCredential(w io.Writer, c *stint.Credential) {
	if c == nil {
		return
	}
	fmt.Fprintln(w, "credential (shown once):")
	for _, k := range stint.SortedKeys(c.Env) {
		fmt.Fprintf(w, "  export %s=%s\n", k, shellQuote(c.Env[k]))
	}
	names := stint.SortedKeys(c.Files)
	if len(names) > 0 {
		fmt.Fprintf(w, "  files: %s (use stint exec to have them written for you)\n", strings.Join(names, ", "))
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printGrantTable prints grants one per line.
func printGrantTable(w io.Writer, gs []*stint.Grant) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tACCESS\tPRINCIPAL\tPOLICY\tREQUESTED\tEXPIRES")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.State, g.Access, g.Principal, orDash(g.Policy), fmtTime(&g.RequestedAt), fmtTime(g.ExpiresAt))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printDecision prints a policy decision with the answer of each candidate.
func printDecision(w io.Writer, d *stint.Decision) {
	fmt.Fprintf(w, "decision: %s", d.Outcome)
	if d.Policy != "" {
		fmt.Fprintf(w, " under policy %s", d.Policy)
	}
	fmt.Fprintln(w)
	if d.TTL > 0 {
		fmt.Fprintf(w, "ttl: %s", stint.FormatDuration(d.TTL))
		if d.Clamped {
			fmt.Fprint(w, " (clamped)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "why: %s\n", d.Reason)
	if len(d.Results) == 0 {
		return
	}
	fmt.Fprintln(w, "policies:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range d.Results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Policy, r.Outcome, r.Reason)
	}
	tw.Flush()
}
