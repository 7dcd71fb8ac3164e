package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/events"
	"github.com/stint-io/stint/internal/httpapi"
	"github.com/stint-io/stint/internal/window"
)

// windowJSON is one window in `stint windows` and GET /v1/windows.
type windowJSON struct {
	Policy string    `json:"policy"`
	Key    string    `json:"key,omitempty"`
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"`
	Open   bool      `json:"open"`
}

// windowsResponse is the answer of GET /v1/windows: open windows first, then
// the next openings of schedule windows.
type windowsResponse struct {
	Windows []windowJSON `json:"windows"`
}

// mountWindows serves GET /v1/windows and the webhook intake
// POST /v1/events/{source}.
func (a *App) mountWindows(api *httpapi.Server) {
	api.HandleAuthenticated("GET /v1/windows", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open, next, err := a.broker.OpenWindows(r.Context(), 3)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		out := windowsResponse{Windows: []windowJSON{}}
		for _, o := range open {
			out.Windows = append(out.Windows, windowJSON{o.Policy, o.Key, o.Opens, o.Closes, true})
		}
		for _, n := range next {
			out.Windows = append(out.Windows, windowJSON{n.Policy, n.Key, n.Opens, n.Closes, false})
		}
		api.WriteJSON(w, r, http.StatusOK, out)
	}))
	api.Handle("POST /v1/events/{source}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, ignored, err := a.receiveEvents(r)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		api.WriteJSON(w, r, http.StatusAccepted, map[string]int{"received": received, "ignored": ignored})
	}))
}

// receiveEvents checks a webhook's signature, stores the events that open or
// close some window (a redelivery counts once) with an event.received audit
// record each, and wakes the window watcher. Returns how many events were
// new and how many were ignored as irrelevant to every window.
func (a *App) receiveEvents(r *http.Request) (received, ignored int, err error) {
	cfg := a.cfg.Load()
	src, ok := cfg.Events[r.PathValue("source")]
	if !ok {
		return 0, 0, stint.Errorf(stint.ENOTFOUND, "no event source %q", clip(r.PathValue("source")))
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, events.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return 0, 0, stint.Errorf(stint.EINVALID, "body larger than %d bytes", events.MaxBody)
		}
		return 0, 0, stint.Errorf(stint.EINVALID, "cannot read the body")
	}
	now := a.Clock.Now().UTC()
	evs, err := events.Parse(src, r.Header, body, now)
	if err != nil {
		return 0, 0, err
	}
	es := a.store.(stint.EventStore)
	for _, ev := range evs {
		// Only events that open or close a window are kept: a busy source
		// (a GitHub organisation) must not fill the store or slow decisions.
		if !window.Relevant(cfg.Policy, ev) {
			ignored++
			continue
		}
		se := &stint.Event{Source: ev.Source, Type: ev.Type, ID: ev.ID, Time: ev.Time, Data: ev.Data, ReceivedAt: now}
		rec := &stint.AuditRecord{Time: now, Type: stint.AuditEventReceived, Actor: "event:" + ev.Source,
			Details: map[string]any{"source": ev.Source, "type": ev.Type, "id": ev.ID, "time": ev.Time.Format(time.RFC3339)}}
		dup, err := es.AppendEvent(r.Context(), se, rec)
		if err != nil {
			return received, ignored, err
		}
		if !dup {
			received++
		}
	}
	if received > 0 {
		if rt := a.broker.Runtime(); rt != nil {
			rt.Windows.Invalidate()
		}
		select {
		case a.windowWake <- struct{}{}:
		default:
		}
	}
	return received, ignored, nil
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

func newWindowsCmd(e *env) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "windows",
		Short: "Open windows and the next openings of schedule windows",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res windowsResponse
			if err := e.client().Do(cmd.Context(), http.MethodGet, "/v1/windows", nil, &res); err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(e.stdout, res.Windows)
			}
			if len(res.Windows) == 0 {
				fmt.Fprintln(e.stdout, "no windows: no policy has a window")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tKEY\tSTATE\tOPENS\tCLOSES")
			for _, w := range res.Windows {
				state := "next"
				if w.Open {
					state = "OPEN"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.Policy, orDash(w.Key), state, w.Opens.UTC().Format(time.RFC3339), w.Closes.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print a JSON array")
	return cmd
}
