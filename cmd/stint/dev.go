package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"github.com/stint-io/stint/internal/authn"
)

func newDevCmd(e *env) *cobra.Command {
	var listen, dataDir string
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a broker with a demo configuration in a temporary directory",
		Long: `Runs a broker on an embedded SQLite store in a temporary directory with a
demo configuration: a token provider (internal-api) and an exec provider
(legacy), a workload, an approver and an admin. Prints the tokens ready to
paste and commands to try. Everything is removed on exit unless --data-dir
is given.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger(e.stderr)
			if err != nil {
				return err
			}
			keep := dataDir != ""
			if !keep {
				if dataDir, err = os.MkdirTemp("", "stint-dev-"); err != nil {
					return err
				}
				defer os.RemoveAll(dataDir)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (use --listen 127.0.0.1:0 for any free port)", listen, err)
			}
			d, err := writeDevConfig(dataDir, "http://"+ln.Addr().String())
			if err != nil {
				ln.Close()
				return err
			}
			app := NewApp(d.ConfigPath, logger)
			app.DataDir = dataDir
			app.Listener = ln
			if err := app.Open(cmd.Context()); err != nil {
				ln.Close()
				return err
			}
			printDevBanner(e.stdout, d, keep)
			return serveOpened(cmd.Context(), app)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8270", "address to listen on")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep state in this directory instead of a temporary one")
	lf.register(cmd, "text")
	return cmd
}

// devSetup is what the dev banner shows.
type devSetup struct {
	Dir, ConfigPath, URL string
	Workload, Approver   string
	Admin                string
}

func writeDevConfig(dir, url string) (*devSetup, error) {
	d := &devSetup{Dir: dir, ConfigPath: filepath.Join(dir, "stint.yaml"), URL: url}
	var err error
	for _, t := range []*string{&d.Workload, &d.Approver, &d.Admin} {
		if *t, err = authn.NewToken(); err != nil {
			return nil, err
		}
	}
	hooks := filepath.Join(dir, "hooks")
	if err := os.MkdirAll(filepath.Join(dir, "legacy-accounts"), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(hooks, 0o700); err != nil {
		return nil, err
	}
	scripts := map[string]string{
		"legacy-grant": `#!/bin/sh
# Demo exec provider: "creates an account" on a legacy system by writing a
# file named after the grant, and prints the credential as JSON.
set -eu
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s %s %s\n' "$STINT_PRINCIPAL" "$STINT_ROLE" "$STINT_EXPIRES_AT" > "` + dir + `/legacy-accounts/$STINT_GRANT_ID"
printf '{"env": {"LEGACY_USER": "stint-%s", "LEGACY_PASSWORD": "%s"}}\n' "$STINT_GRANT_ID" "$secret"
`,
		"legacy-revoke": `#!/bin/sh
# Demo exec provider: removes the account; idempotent.
set -eu
rm -f "` + dir + `/legacy-accounts/$STINT_GRANT_ID"
`,
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(hooks, name), []byte(body), 0o700); err != nil {
			return nil, err
		}
	}
	var buf strings.Builder
	if err := devConfigTmpl.Execute(&buf, map[string]string{
		"Dir": dir, "URL": url, "Listen": strings.TrimPrefix(url, "http://"), "Hooks": hooks,
		"Workload": authn.HashToken(d.Workload), "Approver": authn.HashToken(d.Approver), "Admin": authn.HashToken(d.Admin),
	}); err != nil {
		return nil, err
	}
	return d, os.WriteFile(d.ConfigPath, []byte(buf.String()), 0o600)
}

var devConfigTmpl = template.Must(template.New("dev").Parse(`# Stint demo configuration written by "stint dev".
server:
  listen: {{.Listen}}
  url: {{.URL}}
storage: sqlite:{{.Dir}}/stint.db

auth:
  tokens:
    - subject: svc/demo-app
      kind: workload
      sha256: {{.Workload}}
    - subject: alice@example.com
      kind: human
      groups: [approvers]
      sha256: {{.Approver}}
    - subject: root@example.com
      kind: human
      groups: [admins]
      sha256: {{.Admin}}
  admins: [group:admins]

resources:
  internal-api:
    provider: token
    roles:
      read:  { audience: internal-api, scopes: [read] }
      admin: { audience: internal-api, scopes: [admin] }
  legacy:
    provider: exec
    grant: [{{.Hooks}}/legacy-grant]
    revoke: [{{.Hooks}}/legacy-revoke]
    roles:
      operator: {}

policies:
  - name: routine-reads          # granted at once
    who: principal.kind == "workload" && principal.name.startsWith("svc/")
    access: [internal-api/read, legacy/operator]
    ttl: 10m
    max_ttl: 1h

  - name: api-admin              # needs a reason and one approver
    who: principal.kind == "workload"
    access: [internal-api/admin]
    ttl: 15m
    max_ttl: 1h
    require: [reason]
    approval:
      approvers: [group:approvers]
      count: 1
      timeout: 30m
`))

func printDevBanner(w io.Writer, d *devSetup, keep bool) {
	fmt.Fprintf(w, `
Stint dev broker
  address:  %[1]s
  web UI:   %[1]s/ui/ (served once the web UI lands; the CLI and API work now)
  config:   %[2]s
  data:     %[3]s%[4]s

Tokens (paste one into the shell where you run stint commands):
  workload svc/demo-app:      export STINT_ADDR=%[1]s STINT_TOKEN=%[5]s
  approver alice@example.com: export STINT_ADDR=%[1]s STINT_TOKEN=%[6]s
  admin root@example.com:     export STINT_ADDR=%[1]s STINT_TOKEN=%[7]s

Try, as the workload:
  stint request internal-api/read --reason "nightly report"
  stint exec legacy/operator -- sh -c 'echo "I am $LEGACY_USER until $STINT_EXPIRES_AT"'
  stint request internal-api/admin --reason "rotate keys" --wait     # then approve it as alice
  stint grants
then, as alice or root:
  stint approve ID --comment ok
  stint revoke ID --reason done
  stint audit
  stint audit verify
  stint policy explain --principal svc/demo-app --access internal-api/admin

Ctrl-C stops the broker.
`, d.URL, d.ConfigPath, d.Dir, map[bool]string{true: "", false: " (temporary: removed on exit)"}[keep], d.Workload, d.Approver, d.Admin)
}
