package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/httpapi"
	"github.com/stint-io/stint/internal/report"
)

// mountReport serves GET /v1/report?since=D (default 30d): the success
// metrics of CONTRACT.md section 7, for humans and admins.
func mountReport(api *httpapi.Server, svc *report.Service) {
	api.HandleAuthenticated("GET /v1/report", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for k := range q {
			if k != "since" {
				api.WriteError(w, r, stint.Errorf(stint.EINVALID, "unknown query parameter %q", k))
				return
			}
		}
		var since time.Duration
		if v := q.Get("since"); v != "" {
			d, err := stint.ParseDuration(v)
			if err != nil || d == 0 {
				api.WriteError(w, r, stint.Errorf(stint.EINVALID, "since: want a duration such as 24h or 30d"))
				return
			}
			since = d
		}
		rep, err := svc.Report(r.Context(), since)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, r, http.StatusOK, rep)
	}))
}

func newReportCmd(e *env) *cobra.Command {
	var since string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Success metrics: standing access, session lengths, approvals, unused access, TTL advice",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if d, err := stint.ParseDuration(since); err != nil || d == 0 {
				return withCode(exitUsage, fmt.Errorf("--since: want a duration such as 24h or 30d"))
			}
			var rep stint.Report
			if err := e.client().Do(cmd.Context(), http.MethodGet, "/v1/report?since="+url.QueryEscape(since), nil, &rep); err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, &rep)
			}
			printReport(e.stdout, &rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "30d", "length of the period, ending now (24h, 7d, 30d)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON document")
	return cmd
}

// printReport prints a report for people: the headline figures, then the
// lists that are not empty.
func printReport(w io.Writer, r *stint.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "period:\t%s to %s\n", r.Period.From.Format(time.RFC3339), r.Period.To.Format(time.RFC3339))
	fmt.Fprintf(tw, "requests:\t%d%s\n", r.Requests.Total, reportOutcomes(r.Requests.ByOutcome))
	s := r.SessionDuration
	fmt.Fprintf(tw, "sessions:\t%d ended; mean %s, p50 %s, p95 %s; %s of the granted ttl on average\n",
		s.Count, reportSecs(s.Mean), reportSecs(s.P50), reportSecs(s.P95), reportPct(s.TTLRatio))
	a := r.ApprovalLatency
	fmt.Fprintf(tw, "approval latency:\t%d approved; p50 %s, p95 %s; oldest pending %s\n",
		a.Count, reportSecs(a.P50), reportSecs(a.P95), reportSecs(a.OldestPending))
	u := r.UnusedAccess
	fmt.Fprintf(tw, "unused access:\t%s of ended grants unused (%d of %d observable); use not observable for %d\n",
		reportPct(u.UnusedShare), u.Unused, u.Ended-u.Unobservable, u.Unobservable)
	sa := r.StandingAccess
	fmt.Fprintf(tw, "standing access:\t%d privileges at first discovery, %d now: %s reduction\n", sa.Baseline, sa.Current, reportPct(sa.Reduction))
	fmt.Fprintf(tw, "revocation failures:\t%d\n", r.RevocationFailures)
	tw.Flush()

	section := func(title string, n int, header string, rows func(tw *tabwriter.Writer)) {
		if n == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+header)
		rows(tw)
		tw.Flush()
	}
	section("TTL recommendations", len(r.TTLRecommendations), "POLICY\tTTL\tRECOMMENDED\tEVIDENCE", func(tw *tabwriter.Writer) {
		for _, t := range r.TTLRecommendations {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", reportPolicy(t.Policy), reportSecs(t.TTL), reportSecs(t.Recommended), t.Evidence)
		}
	})
	section("Denials", len(r.Denials), "COUNT\tPRINCIPAL\tACCESS\tREASON", func(tw *tabwriter.Writer) {
		for _, d := range r.Denials {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", d.Count, d.Principal, d.Access, d.Reason)
		}
	})
	var pending, approvers []stint.Bottleneck
	for _, b := range r.Bottlenecks {
		if b.PendingRequest != nil {
			pending = append(pending, b)
		} else if b.SlowApprover != nil {
			approvers = append(approvers, b)
		}
	}
	section("Oldest pending requests", len(pending), "GRANT\tACCESS\tPOLICY\tAGE\tAPPROVERS", func(tw *tabwriter.Writer) {
		for _, b := range pending {
			p := b.PendingRequest
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.GrantID, p.Access, reportPolicy(p.Policy), reportSecs(p.Age), strings.Join(p.Approvers, ", "))
		}
	})
	section("Slowest approvers", len(approvers), "APPROVER\tDECISIONS\tP50", func(tw *tabwriter.Writer) {
		for _, b := range approvers {
			a := b.SlowApprover
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", a.Approver, a.Decisions, reportSecs(a.P50))
		}
	})
	section("Over-approval warnings", len(r.OverApproval), "POLICY\tDECISIONS\tAPPROVED\tMEDIAN\tWARNING", func(tw *tabwriter.Writer) {
		for _, o := range r.OverApproval {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", reportPolicy(o.Policy), o.Decisions, reportPct(o.ApprovalRate), reportSecs(o.Median), o.Warning)
		}
	})
	section("By policy", len(r.ByPolicy), "POLICY\tREQUESTS\tSESSIONS\tP95\tTTL USED\tAPPROVAL P50\tUNUSED", func(tw *tabwriter.Writer) {
		for _, p := range r.ByPolicy {
			s, a, u := p.SessionDuration, p.ApprovalLatency, p.UnusedAccess
			p95, used, latency, unused := "-", "-", "-", "-"
			if s.Count > 0 {
				p95, used = reportSecs(s.P95), reportPct(s.TTLRatio)
			}
			if a.Count > 0 {
				latency = reportSecs(a.P50)
			}
			if u.Ended > u.Unobservable {
				unused = reportPct(u.UnusedShare)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\n", reportPolicy(p.Policy), p.Requests, s.Count, p95, used, latency, unused)
		}
	})
}

// reportOutcomes returns " (3 expired, 1 denied)" for the non-zero outcomes,
// in lifecycle order.
func reportOutcomes(m map[string]int) string {
	var parts []string
	for _, s := range stint.States {
		if n := m[string(s)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// reportSecs formats a number of seconds as a compact duration.
func reportSecs(s float64) string {
	return stint.FormatDuration(time.Duration(s * float64(time.Second)).Round(time.Second))
}

func reportPct(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }

func reportPolicy(p string) string {
	if p == "" {
		return "(no policy)"
	}
	return p
}
