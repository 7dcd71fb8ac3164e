package config_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
)

// fakeFactory accepts any resource configuration, or returns validate's
// answer when set.
type fakeFactory struct {
	typ      string
	validate func(spec stint.ResourceSpec) error
}

func (f *fakeFactory) Type() string { return f.typ }
func (f *fakeFactory) Validate(spec stint.ResourceSpec) error {
	if f.validate != nil {
		return f.validate(spec)
	}
	return nil
}
func (f *fakeFactory) New(context.Context, stint.ResourceSpec) (stint.Provider, error) {
	return nil, errors.New("fake")
}

func fakeFactories() map[string]stint.ProviderFactory {
	m := map[string]stint.ProviderFactory{}
	for _, t := range []string{"postgres", "ssh", "token", "exec"} {
		m[t] = &fakeFactory{typ: t}
	}
	return m
}

const secretValue = "s3cr3t-VALUE-do-not-print"

var testEnv = map[string]string{
	"PROD_DB_ADMIN_DSN":  "postgres://admin:" + secretValue + "@db/prod",
	"PD_WEBHOOK_SECRET":  secretValue,
	"GH_WEBHOOK_SECRET":  "gh",
	"OPS_WEBHOOK_SECRET": "ops",
	"SLACK_WEBHOOK_URL":  "https://hooks.slack.com/services/" + secretValue,
	"NOTIFY_SECRET":      "n",
}

func testOptions(env map[string]string) config.Options {
	return config.Options{
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ReadFile: func(path string) ([]byte, error) {
			switch path {
			case "/etc/stint/ssh_ca":
				return []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n" + secretValue + "\n"), nil
			case "/run/secret":
				return []byte("1h\n"), nil
			}
			if strings.HasPrefix(path, "testdata/") {
				return os.ReadFile(path)
			}
			return nil, os.ErrNotExist
		},
	}
}

func TestLoad_Contract(t *testing.T) {
	c, err := config.Load("testdata/contract.yaml", fakeFactories(), testOptions(testEnv))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Server.Listen != "127.0.0.1:8270" || c.Server.URL != "https://stint.example.com" || c.Server.TLSKey != "/etc/stint/tls.key" {
		t.Errorf("server = %+v", c.Server)
	}
	if c.Storage != "sqlite:/var/lib/stint/stint.db" {
		t.Errorf("storage = %q", c.Storage)
	}
	if len(c.Auth.Tokens) != 2 || c.Auth.Tokens[1].Subject != "alice@example.com" || c.Auth.Tokens[1].Kind != "human" ||
		strings.Join(c.Auth.Tokens[1].Groups, ",") != "db-owners,admins" {
		t.Errorf("tokens = %+v", c.Auth.Tokens)
	}
	if len(c.Auth.OIDC) != 1 || c.Auth.OIDC[0].SubjectExpr == nil || c.Auth.OIDC[0].Audience != "stint" {
		t.Errorf("oidc = %+v", c.Auth.OIDC)
	}
	if got := strings.Join(c.ResourceOrder, ","); got != "prod-db,bastion,internal-api,legacy" {
		t.Errorf("resource order %s", got)
	}
	db := c.Resources["prod-db"]
	if db.Type != "postgres" || strings.Join(db.Roles, ",") != "readonly,migrate,backup" || db.Spec.Name != "prod-db" || db.Spec.URL != "https://stint.example.com" {
		t.Errorf("prod-db = %+v", db)
	}
	var pg struct {
		DSN   string `yaml:"dsn"`
		Roles map[string]struct {
			Grant   []string `yaml:"grant"`
			Elevate string   `yaml:"elevate"`
		} `yaml:"roles"`
	}
	if err := db.Spec.Decode(&pg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if pg.DSN != testEnv["PROD_DB_ADMIN_DSN"] || pg.Roles["backup"].Elevate != "backup_svc" || pg.Roles["readonly"].Grant[0] != "pg_read_all_data" {
		t.Errorf("decoded %+v", pg)
	}
	var ssh struct {
		CAKey string              `yaml:"ca_key"`
		Roles map[string]struct{} `yaml:"roles"`
	}
	if err := c.Resources["bastion"].Spec.Decode(&ssh); err == nil {
		t.Errorf("Decode of ssh roles into empty struct should fail on unknown fields")
	}
	if len(c.Events) != 3 || c.Events["pagerduty"].Type != "pagerduty" || string(c.Events["pagerduty"].Secret) != secretValue {
		t.Errorf("events = %+v", c.Events)
	}
	if len(c.Notify) != 2 || c.Notify[0].Format != "slack" || !c.Notify[0].Wants("grant.break_glass") || c.Notify[1].Wants("grant.break_glass") {
		t.Errorf("notify = %+v", c.Notify)
	}
	ps := c.Policy.Policies()
	if len(ps) != 5 || ps[1].Window.Schedule.Duration != time.Hour || ps[2].Window.Event.Max != 4*time.Hour ||
		ps[0].Approval.Count != 1 || ps[0].Approval.Timeout != 30*time.Minute || !ps[4].BreakGlass || ps[0].MaxTTL != time.Hour {
		t.Errorf("policies = %+v", ps)
	}
	alice := &stint.Principal{Name: "alice@example.com", Kind: "human", Groups: []string{"admins"}}
	if !c.IsAdmin(alice) || c.IsAdmin(&stint.Principal{Name: "svc/x"}) || c.IsAdmin(nil) {
		t.Errorf("IsAdmin")
	}
	d := c.Policy.Decide(&stint.Principal{Name: "svc/app", Kind: "workload"}, stint.AccessRequest{Access: "internal-api/admin", Reason: "r"}, nil, time.Now())
	if d.Outcome != stint.OutcomeAllow || d.Policy != "routine-reads" {
		t.Errorf("decision %+v", d)
	}
	if s := c.Notify[0].URL.String(); strings.Contains(s, secretValue) {
		t.Errorf("Secret.String leaks")
	}
}

func TestParse_Defaults(t *testing.T) {
	opts := testOptions(nil)
	opts.DataDir = "/data"
	c, err := config.Parse("x.yaml", []byte(""), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != config.DefaultListen || c.Server.URL != config.DefaultURL || c.Storage != "sqlite:/data/stint.db" {
		t.Errorf("defaults %+v %q", c.Server, c.Storage)
	}
	if d := c.Policy.Decide(&stint.Principal{Name: "x"}, stint.AccessRequest{Access: "a/b"}, nil, time.Now()); d.Outcome != stint.OutcomeDeny {
		t.Errorf("empty config allows")
	}
	c, err = config.Parse("x.yaml", []byte("server: {listen: '[::1]:9000'}\n"), nil, opts)
	if err != nil || c.Server.URL != "http://[::1]:9000" {
		t.Fatalf("url %v %v", c, err)
	}
}

func TestLoad_Missing(t *testing.T) {
	_, err := config.Load("testdata/nope.yaml", nil, testOptions(nil))
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/nope.yaml: cannot read") || stint.ErrorCode(err) != stint.EINVALID {
		t.Fatalf("err = %v", err)
	}
}

func TestLoad_SecretsNotInErrors(t *testing.T) {
	env := map[string]string{"X": secretValue}
	for k, v := range testEnv {
		env[k] = v
	}
	data := `
server:
  listen: ${env:X}
storage: ${env:X}
auth:
  tokens:
    - subject: svc/a
      kind: ${env:X}
      sha256: ${env:X}
events:
  pd: {type: "${env:X}", secret: "${env:X}"}
notify:
  - url: ${env:X}
    format: ${env:X}
    on: ["${env:X}"]
resources:
  db:
    provider: ${env:X}
    roles: {ro: {}}
policies:
  - name: p
    who: ${env:X}
    access: [db/ro]
    ttl: ${env:X}
    window:
      event: {source: "${env:X}", open: "${env:X}", max: 1h}
`
	_, err := config.Parse("s.yaml", []byte(data), fakeFactories(), testOptions(env))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("secret in error:\n%v", err)
	}
	t.Log(err)
	if n := len(err.(*config.Error).Problems); n < 12 {
		t.Errorf("only %d problems:\n%v", n, err)
	}
}
