package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/httpapi"
	"github.com/stint-io/stint/internal/report"
	"github.com/stint-io/stint/store/sqlite"
)

// tokenAuth authenticates fixed tokens.
type tokenAuth map[string]*stint.Principal

func (a tokenAuth) Authenticate(_ context.Context, bearer string) (*stint.Principal, error) {
	if p := a[bearer]; p != nil {
		return p, nil
	}
	return nil, stint.Errorf(stint.EUNAUTHORIZED, "bad token")
}

func TestReportCmd(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(now)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stint.db"), clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	req := now.Add(-time.Hour)
	g := &stint.Grant{ID: stint.NewID(req), Principal: "svc/app", Access: "db/readonly", State: stint.StateDenied,
		Policy: "ci", RequestedAt: req, Detail: "no policy allows it", Approvals: []stint.Approval{}}
	if err := store.CreateGrant(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	api := httpapi.NewServer()
	api.Clock = clock
	api.Auth = tokenAuth{
		"human":    {Name: "alice", Kind: stint.KindHuman},
		"workload": {Name: "svc/app", Kind: stint.KindWorkload},
	}
	mountReport(api, &report.Service{Store: store, Clock: clock})
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	runCmd := func(token string, args ...string) (string, error) {
		var out bytes.Buffer
		e := &env{stdout: &out, stderr: &out, addr: srv.URL, token: token}
		cmd := newReportCmd(e)
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}

	t.Run("JSON", func(t *testing.T) {
		out, err := runCmd("human", "--json", "--since", "2h")
		if err != nil {
			t.Fatal(err)
		}
		var r stint.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Requests.Total != 1 || !r.Period.From.Equal(now.Add(-2*time.Hour)) || len(r.Denials) != 1 {
			t.Errorf("report = %s", out)
		}
	})
	t.Run("Text", func(t *testing.T) {
		out, err := runCmd("human")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"requests:", "1 (1 denied)", "Denials", "no policy allows it", "By policy"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Workload", func(t *testing.T) {
		_, err := runCmd("workload")
		if stint.ErrorCode(err) != stint.EDENIED {
			t.Errorf("err = %v, want EDENIED", err)
		}
	})
	t.Run("BadSince", func(t *testing.T) {
		_, err := runCmd("human", "--since", "soon")
		if exitCode(err) != exitUsage {
			t.Errorf("exit code = %d, want %d", exitCode(err), exitUsage)
		}
	})
	t.Run("BadQuery", func(t *testing.T) {
		for _, q := range []string{"?since=soon", "?from=x"} {
			var r stint.Report
			err := (&env{addr: srv.URL, token: "human"}).client().Do(ctx, "GET", "/v1/report"+q, nil, &r)
			if stint.ErrorCode(err) != stint.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", q, err)
			}
		}
	})
}
