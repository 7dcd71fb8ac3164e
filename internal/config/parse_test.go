package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
)

const base = `storage: sqlite:/tmp/s.db
resources:
  db:
    provider: postgres
    roles:
      ro: {grant: [r]}
      rw: {}
`

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // "LINE: FIELD: message prefix", all of them, in order
	}{
		{"Valid", base + "policies:\n  - {name: a, who: 'true', access: [db/ro, db/*], ttl: 7d}\n", nil},
		{"YAMLSyntax", "server:\n  listen: [\n", []string{"2: invalid YAML: did not find expected node content"}},
		{"NotMapping", "- a\n", []string{"1: must be a mapping", "1: storage: required"}},
		{"UnknownTop", base + "polices: []\n", []string{"8: polices: unknown field"}},
		{"UnknownNested", "storage: sqlite:x\nserver:\n  listen: 127.0.0.1:1\n  port: 3\n", []string{"4: server.port: unknown field"}},
		{"Duplicate", "storage: sqlite:x\nstorage: sqlite:y\n", []string{"2: storage: defined more than once"}},
		{"NoStorage", "server: {}\n", []string{"1: storage: required"}},
		{"BadStorage", "storage: mysql://x\n", []string{"1: storage: must start with sqlite: or postgres://"}},
		{"Listen", "storage: sqlite:x\nserver:\n  listen: nope\n  url: ftp://x\n", []string{"3: server.listen: must be HOST:PORT", "4: server.url: must be an http or https URL"}},
		{"PlainNonLoopback", "storage: sqlite:x\nserver:\n  listen: 0.0.0.0:8270\n", []string{"3: server.listen: plain HTTP is only allowed on a loopback address"}},
		{"TLSNonLoopback", "storage: sqlite:x\nserver:\n  listen: :443\n  tls_cert: c\n  tls_key: k\n", nil},
		{"TLSHalf", "storage: sqlite:x\nserver:\n  tls_cert: c\n", []string{"3: server.tls_key: required with tls_cert"}},
		{"Tokens", `storage: sqlite:x
auth:
  tokens:
    - subject: svc/a
      kind: robot
      sha256: abc
    - subject: svc/a
      kind: workload
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    - kind: human
      sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
  admins: [group:admins, "group:", alice]
`, []string{
			"5: auth.tokens[0].kind: must be workload or human",
			"6: auth.tokens[0].sha256: must be 64 hex digits",
			"7: auth.tokens[1].subject: duplicate subject",
			"10: auth.tokens[2].subject: required",
			"11: auth.tokens[2].sha256: the same token is configured twice",
			"12: auth.admins[1]: must be group:NAME or a subject",
		}},
		{"OIDC", `storage: sqlite:x
auth:
  oidc:
    - name: gh
      issuer: http://example.com
      subject: 'claims.x == 1'
    - name: gh
      issuer: https://example.com
      audience: stint
      kind: human
`, []string{
			"4: auth.oidc[0].audience: required",
			"5: auth.oidc[0].issuer: must be an https URL",
			"6: auth.oidc[0].subject: must be a string expression",
			"7: auth.oidc[1].name: duplicate name",
		}},
		{"Resources", `storage: sqlite:x
resources:
  a/b:
    provider: postgres
    roles: {r: {}}
  db:
    provider: mysql
    roles: {}
  api:
    roles:
      "x y": {}
      ok: [1]
`, []string{
			"3: resources.a/b: resource names are",
			"7: resources.db.provider: unknown provider \"mysql\" (known: exec, postgres, ssh, token)",
			"8: resources.db.roles: must be a non-empty mapping",
			"9: resources.api.provider: required",
			"11: resources.api.roles.x y: role names are",
			"12: resources.api.roles.ok: must be a mapping",
		}},
		{"Events", `storage: sqlite:x
events:
  pd: {type: pagerduty}
  gh:
    type: gitlab
    secret: x
    extra: 1
`, []string{
			"3: events.pd.secret: required",
			"5: events.gh.type: must be pagerduty, github or generic",
			"7: events.gh.extra: unknown field",
		}},
		{"Notify", `storage: sqlite:x
notify:
  - url: https://x/y
    format: xml
    on: [approval.requested, grant.exploded]
  - format: json
`, []string{
			"4: notify[0].format: must be slack or json",
			"5: notify[0].on[1]: unknown event \"grant.exploded\"",
			"6: notify[1].url: required",
		}},
		{"Policies", base + `events:
  pd: {type: pagerduty, secret: s}
policies:
  - name: a
    who: request.reason != ""
    access: [db/ro, db/nope, other/x, bad]
    ttl: 1h
    max_ttl: 30m
    require: [reason, why]
    approval:
      approvers: [alice]
      count: 2
  - name: a
    who: 'true'
    ttl: 5x
    break_glass: maybe
    colour: red
  - name: w
    who: 'true'
    access: [db/ro]
    ttl: 1h
    window:
      schedule: {cron: "61 * * * *", timezone: Nowhere/City}
      event: {source: nope, open: 'event.type == 1 +', max: 1h}
      provision: [db/rw]
  - nope
`, []string{
			"12: policies[0].who: policy \"a\": 1:1: undeclared reference to 'request'",
			"13: policies[0].access[1]: resource db has no role \"nope\"",
			"13: policies[0].access[2]: no resource \"other\"",
			"13: policies[0].access[3]: must be RESOURCE/ROLE or RESOURCE/*",
			"15: policies[0].max_ttl: must not be less than ttl",
			"16: policies[0].require[1]: must be reason or ticket",
			"19: policies[0].approval.count: must not exceed the number of approvers (1)",
			"20: policies[1].access: required",
			"20: policies[1].name: duplicate policy name \"a\"",
			"22: policies[1].ttl: invalid duration \"5x\"",
			"23: policies[1].break_glass: must be true or false",
			"24: policies[1].colour: unknown field",
			"29: policies[2].window: takes schedule or event, not both",
			"30: policies[2].window.schedule.cron: end of range (61) above maximum (59): 61",
			"30: policies[2].window.schedule.timezone: unknown time zone \"Nowhere/City\"",
			"30: policies[2].window.schedule.duration: required",
			"31: policies[2].window.event.source: no event source \"nope\" in events",
			"31: policies[2].window.event.open: policy \"w\": 1:",
			"32: policies[2].window.provision[0]: db/rw is not in the policy's access",
			"33: policies[3]: must be a mapping",
		}},
		{"PolicyUnknownFields", base + `events:
  pd: {type: pagerduty, secret: s}
policies:
  - name: a
    who: principal.nmae == "svc/x"
    access: [db/ro]
    ttl: 1h
    when: request.reasn != ""
  - name: w
    who: '"sre" in principal.groups && principal.claims.ref == "main"'
    access: [db/ro]
    ttl: 1h
    window:
      event:
        source: pd
        open: event.typ == "incident.triggered" && event.data.urgency == "high"
        close: event.type == "incident.resolved"
        key: event.dat.id
        max: 4h
`, []string{
			"12: policies[0].who: policy \"a\": 1:10: undefined field 'nmae'",
			"15: policies[0].when: policy \"a\": 1:8: undefined field 'reasn'",
			"23: policies[1].window.event.open: policy \"w\": 1:6: undefined field 'typ'",
			"25: policies[1].window.event.key: policy \"w\": 1:6: undefined field 'dat'",
		}},
		{"EnvMissing", "storage: ${env:NOPE}\nserver: {url: 'https://${env:NOHOST}/x'}\n", []string{
			"1: storage: environment variable NOPE is not set",
			"2: server.url: environment variable NOHOST is not set",
		}},
		{"FileMissing", "storage: ${file:/nope}\n", []string{"1: storage: cannot read /nope: file does not exist"}},
		{"FileExpanded", base + "policies:\n  - {name: a, who: 'true', access: [db/ro], ttl: '${file:/run/secret}'}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("t.yaml", []byte(tt.data), fakeFactories(), testOptions(map[string]string{"HOST": "h"}))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse:\n%v", err)
				}
				if c.Policy == nil {
					t.Fatal("no engine")
				}
				return
			}
			if c != nil || err == nil {
				t.Fatal("no error")
			}
			assertProblems(t, err, tt.want)
		})
	}
}

func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not *config.Error: %v", err, err)
	}
	if stint.ErrorCode(err) != stint.EINVALID {
		t.Errorf("code %q", stint.ErrorCode(err))
	}
	for _, p := range ce.Problems {
		if p.File != "t.yaml" {
			t.Errorf("file %q", p.File)
		}
	}
	if !strings.HasPrefix(err.Error(), "t.yaml:") {
		t.Errorf("Error() = %q", err.Error())
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, strings.TrimPrefix(p.String(), "t.yaml:"))
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
