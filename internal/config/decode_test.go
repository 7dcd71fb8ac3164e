package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
)

type pgRole struct {
	Grant   []string `yaml:"grant"`
	Elevate string   `yaml:"elevate"`
}

type pgConfig struct {
	DSN     string               `yaml:"dsn"`
	Timeout time.Duration        `yaml:"timeout"`
	MaxConn int                  `yaml:"max_conn"`
	TLS     *struct{ CA string } `yaml:"tls"`
	Roles   map[string]pgRole    `yaml:"roles"`
}

// strictFactory decodes into pgConfig and checks roles, like a real provider.
func strictFactory(got *pgConfig) stint.ProviderFactory {
	return &fakeFactory{typ: "postgres", validate: func(spec stint.ResourceSpec) error {
		var c pgConfig
		if err := spec.Decode(&c); err != nil {
			return err
		}
		*got = c
		var errs stint.FieldErrors
		if c.DSN == "" {
			errs.Add("dsn", "required")
		}
		for name, r := range c.Roles {
			if len(r.Grant) == 0 && r.Elevate == "" {
				errs.Add("roles."+name+".grant", "required without elevate")
			}
			for i, g := range r.Grant {
				if g == "superuser" {
					errs.Add(fmt.Sprintf("roles.%s.grant[%d]", name, i), "superuser may not be granted")
				}
			}
		}
		return errs.Err()
	}}
}

func TestResourceSpec_Decode(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"Valid", `storage: sqlite:x
resources:
  db:
    provider: postgres
    dsn: postgres://h/d
    timeout: 1d2h
    max_conn: 4
    tls: {ca: /ca}
    roles:
      ro: {grant: [a, b]}
`, nil},
		{"Strict", `storage: sqlite:x
resources:
  db:
    provider: postgres
    dsn: postgres://h/d
    timeout: soon
    max_conn: many
    tls: {ca: /ca, cert: x}
    roles:
      ro: {grant: a}
      rw: {grnt: [a]}
`, []string{
			"6: resources.db.timeout: invalid duration \"soon\"",
			"7: resources.db.max_conn: must be an integer",
			"8: resources.db.tls.cert: unknown field (known: ca)",
			"10: resources.db.roles.ro.grant: must be a list",
			"11: resources.db.roles.rw.grnt: unknown field (known: elevate, grant)",
		}},
		{"FieldErrors", `storage: sqlite:x
resources:
  db:
    provider: postgres
    roles:
      ro:
        grant:
          - x
          - superuser
      rw: {}
`, []string{
			"3: resources.db.dsn: required",
			"9: resources.db.roles.ro.grant[1]: superuser may not be granted",
			"10: resources.db.roles.rw.grant: required without elevate",
		}},
		{"SecretTypeError", `storage: sqlite:x
resources:
  db:
    provider: postgres
    dsn: x
    max_conn: ${env:X}
    timeout: ${env:X}
    roles: {ro: {grant: [a]}}
`, []string{
			"6: resources.db.max_conn: must be an integer",
			"7: resources.db.timeout: invalid value (from ${env:} or ${file:}, not shown)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got pgConfig
			f := map[string]stint.ProviderFactory{"postgres": strictFactory(&got)}
			_, err := config.Parse("t.yaml", []byte(tt.data), f, testOptions(map[string]string{"X": secretValue}))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got.Timeout != 26*time.Hour || got.MaxConn != 4 || got.TLS.CA != "/ca" || strings.Join(got.Roles["ro"].Grant, ",") != "a,b" {
					t.Errorf("decoded %+v", got)
				}
				return
			}
			assertProblems(t, err, tt.want)
			if strings.Contains(err.Error(), secretValue) {
				t.Error("secret in error")
			}
		})
	}
}

func TestResourceSpec_Decode_Errors(t *testing.T) {
	var spec stint.ResourceSpec
	f := map[string]stint.ProviderFactory{"exec": &fakeFactory{typ: "exec", validate: func(s stint.ResourceSpec) error {
		spec = s
		return errors.Join(errors.New("grant command is not executable"), &stint.FieldError{Field: "roles.op", Message: "bad"})
	}}}
	_, err := config.Parse("t.yaml", []byte("storage: sqlite:x\nresources:\n  legacy:\n    provider: exec\n    roles:\n      op: {}\n"), f, testOptions(nil))
	assertProblems(t, err, []string{"3: resources.legacy: grant command is not executable", "6: resources.legacy.roles.op: bad"})
	if spec.Name != "legacy" || strings.Join(spec.Roles, ",") != "op" || spec.Clock == nil || spec.Logger == nil {
		t.Errorf("spec = %+v", spec)
	}
	var x int
	if err := spec.Decode(&x); err == nil || !strings.Contains(err.Error(), "t.yaml:4: resources.legacy: must be a single value") {
		t.Errorf("Decode into int: %v", err)
	}
	if err := spec.Decode(nil); stint.ErrorCode(err) != stint.EINTERNAL {
		t.Errorf("Decode(nil): %v", err)
	}
	var m map[string]any
	if err := spec.Decode(&m); err != nil || m["provider"] != "exec" {
		t.Errorf("Decode into map: %v %v", m, err)
	}
}
