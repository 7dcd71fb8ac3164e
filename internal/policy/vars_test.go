package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// TestCompile_UnknownField checks that the fields of principal, request and
// event are typed: a misspelt field is a compile error naming the policy
// field, while the free-form maps (claims, data) take any key.
func TestCompile_UnknownField(t *testing.T) {
	eventPolicy := func(open, close, key string) *policy.Policy {
		return &policy.Policy{Name: "p", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
			Window: &policy.WindowSpec{Event: &policy.EventSpec{Source: "pd", Open: open, Close: close, Key: key, Max: time.Hour}}}
	}
	plain := func(who, when string) *policy.Policy {
		return &policy.Policy{Name: "p", Who: who, When: when, Access: []string{"db/ro"}, TTL: time.Hour}
	}
	tests := []struct {
		name   string
		policy *policy.Policy
		want   []string // "field: message", exact
	}{
		{"WhoName", plain(`principal.nmae == "x"`, ""), []string{`policies[0].who: policy "p": 1:10: undefined field 'nmae'`}},
		{"WhoGroups", plain(`"sre" in principal.group`, ""), []string{`policies[0].who: policy "p": 1:19: undefined field 'group'`}},
		{"WhoAdmin", plain(`principal.admin`, ""), []string{`policies[0].who: policy "p": 1:10: undefined field 'admin'`}},
		{"WhenReason", plain("true", `request.reasn != ""`), []string{`policies[0].when: policy "p": 1:8: undefined field 'reasn'`}},
		{"WhenPrincipal", plain("true", `principal.kindd == "human"`), []string{`policies[0].when: policy "p": 1:10: undefined field 'kindd'`}},
		{"WhenTTLType", plain("true", `request.ttl <= 3600`), []string{`policies[0].when: policy "p": 1:13: found no matching overload for '_<=_' applied to '(duration, int)'`}},
		{"EventOpen", eventPolicy(`event.typ == "x"`, "", ""), []string{`policies[0].window.event.open: policy "p": 1:6: undefined field 'typ'`}},
		{"EventClose", eventPolicy("true", `event.sorce == "pd"`, ""), []string{`policies[0].window.event.close: policy "p": 1:6: undefined field 'sorce'`}},
		{"EventKey", eventPolicy("true", "", `event.dat.id`), []string{`policies[0].window.event.key: policy "p": 1:6: undefined field 'dat'`}},
		{"EventKeyNotString", eventPolicy("true", "", `event.time`), []string{`policies[0].window.event.key: policy "p": must be a string expression, not google.protobuf.Timestamp`}},
		{"Several", plain(`principal.nmae == "x"`, `request.tiket == ""`), []string{
			`policies[0].who: policy "p": 1:10: undefined field 'nmae'`,
			`policies[0].when: policy "p": 1:8: undefined field 'tiket'`,
		}},
		{"ClaimsFreeForm", plain(`principal.claims.anything == "x" && principal.claims["ref"] == "y"`, `has(principal.claims.z)`), nil},
		{"DataFreeForm", eventPolicy(`event.data.anything.nested == 1`, `event.data["x"] == "y"`, `event.data.id`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Compile([]*policy.Policy{tt.policy})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			var fes stint.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("Compile error %v is not FieldErrors", err)
			}
			var got []string
			for _, fe := range fes {
				got = append(got, fe.Field+": "+fe.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestEngine_Decide_ContractExpressions checks that every who and when
// expression of CONTRACT.md section 3 and docs/configuration.md compiles and
// evaluates as it did when the variables were maps.
func TestEngine_Decide_ContractExpressions(t *testing.T) {
	gh := &stint.Principal{Name: "github:acme/api@refs/heads/main", Kind: stint.KindWorkload, Issuer: "github",
		Claims: map[string]any{"repository": "acme/api", "ref": "refs/heads/main", "run_attempt": float64(2)}}
	bot := &stint.Principal{Name: "svc/nightly-backup", Kind: stint.KindWorkload, Issuer: "static"}
	alice := &stint.Principal{Name: "alice@example.com", Kind: stint.KindHuman, Issuer: "static", Groups: []string{"sre", "admins"}}
	at9 := time.Date(2025, 3, 3, 9, 30, 0, 0, time.UTC)
	at20 := time.Date(2025, 3, 3, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		who, when string
		p         *stint.Principal
		req       stint.AccessRequest
		now       time.Time
		allow     bool
	}{
		{"NameEqual", `principal.name == "github:acme/api@refs/heads/main"`, "", gh, stint.AccessRequest{}, t0, true},
		{"NameOther", `principal.name == "svc/nightly-backup"`, "", gh, stint.AccessRequest{}, t0, false},
		{"KindAndPrefix", `principal.kind == "workload" && principal.name.startsWith("svc/")`, "", bot, stint.AccessRequest{}, t0, true},
		{"KindAndPrefixHuman", `principal.kind == "workload" && principal.name.startsWith("svc/")`, "", alice, stint.AccessRequest{}, t0, false},
		{"InGroups", `"sre" in principal.groups`, "", alice, stint.AccessRequest{}, t0, true},
		{"InNoGroups", `"sre" in principal.groups`, "", bot, stint.AccessRequest{}, t0, false},
		{"GroupsSize", `size(principal.groups) == 0`, "", bot, stint.AccessRequest{}, t0, true},
		{"Issuer", `principal.issuer == "github"`, "", gh, stint.AccessRequest{}, t0, true},
		{"ClaimsSelect", `principal.claims.repository == "acme/api"`, "", gh, stint.AccessRequest{}, t0, true},
		{"ClaimsIndex", `principal.claims["ref"] == "refs/heads/main"`, "", gh, stint.AccessRequest{}, t0, true},
		{"ClaimsNumber", `principal.claims.run_attempt < 3`, "", gh, stint.AccessRequest{}, t0, true},
		{"ClaimsMissingDenies", `principal.claims.repository == "acme/api"`, "", bot, stint.AccessRequest{}, t0, false},
		{"ClaimsHas", `!has(principal.claims.repository)`, "", bot, stint.AccessRequest{}, t0, true},
		{"HasName", `has(principal.name)`, "", bot, stint.AccessRequest{}, t0, true},
		{"Dyn", `dyn(principal).name == "svc/nightly-backup"`, "", bot, stint.AccessRequest{}, t0, true},
		{"DynUnknownDenies", `dyn(principal).nmae == "svc/nightly-backup"`, "", bot, stint.AccessRequest{}, t0, false},
		{"Reason", "true", `request.reason != ""`, bot, stint.AccessRequest{Reason: "nightly"}, t0, true},
		{"NoReason", "true", `request.reason != ""`, bot, stint.AccessRequest{}, t0, false},
		{"Ticket", "true", `request.ticket.matches("^CHG-[0-9]+$")`, bot, stint.AccessRequest{Ticket: "CHG-42"}, t0, true},
		{"TicketBad", "true", `request.ticket.matches("^CHG-[0-9]+$")`, bot, stint.AccessRequest{Ticket: "x"}, t0, false},
		{"AccessResourceRole", "true", `request.access == "db/ro" && request.resource == "db" && request.role == "ro"`, bot, stint.AccessRequest{}, t0, true},
		{"TTLDefault", "true", `request.ttl <= duration("1h")`, bot, stint.AccessRequest{}, t0, true},
		{"TTLShort", "true", `request.ttl <= duration("20m") && request.role == "ro"`, bot, stint.AccessRequest{TTL: 15 * time.Minute}, t0, true},
		{"TTLLong", "true", `request.ttl <= duration("20m")`, bot, stint.AccessRequest{TTL: 2 * time.Hour}, t0, false},
		{"OfficeHours", "true", `request.time.getHours() >= 8 && request.time.getHours() < 18`, bot, stint.AccessRequest{}, at9, true},
		{"AfterHours", "true", `request.time.getHours() >= 8 && request.time.getHours() < 18`, bot, stint.AccessRequest{}, at20, false},
		{"TimeCompare", "true", `request.time > timestamp("2025-01-01T00:00:00Z")`, bot, stint.AccessRequest{}, at9, true},
		{"PrincipalInWhen", "true", `principal.kind == "human" && "admins" in principal.groups`, alice, stint.AccessRequest{}, t0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustCompile(t, &policy.Policy{Name: "p", Who: tt.who, When: tt.when, Access: []string{"db/ro"}, TTL: time.Hour, MaxTTL: 4 * time.Hour})
			req := tt.req
			req.Access = "db/ro"
			d := e.Decide(tt.p, req, nil, tt.now)
			if got := d.Outcome == stint.OutcomeAllow; got != tt.allow {
				t.Fatalf("allow = %v, want %v: %s", got, tt.allow, d.Reason)
			}
		})
	}
}

// TestEngine_MatchEvent_Fields checks the typed fields of event.
func TestEngine_MatchEvent_Fields(t *testing.T) {
	ev := policy.Event{Source: "ops", Type: "deploy.started", ID: "e1", Key: "k1",
		Time: time.Date(2025, 3, 3, 9, 0, 0, 0, time.FixedZone("X", 3600)), Data: map[string]any{"env": "prod"}}
	tests := []struct {
		name      string
		open, key string
		want      policy.EventMatch
	}{
		{"Source", `event.source == "ops" && event.type.startsWith("deploy.")`, "", policy.EventMatch{Open: true, Key: "k1"}},
		{"IDAndKey", `event.id == "e1" && event.key == "k1"`, `event.id + "/" + event.key`, policy.EventMatch{Open: true, Key: "e1/k1"}},
		{"TimeUTC", `event.time.getHours() == 8`, "", policy.EventMatch{Open: true, Key: "k1"}},
		{"Data", `event.data.env == "prod"`, `event.data.env`, policy.EventMatch{Open: true, Key: "prod"}},
		{"NoMatch", `event.type == "deploy.finished"`, "", policy.EventMatch{Key: "k1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MustCompile(t, &policy.Policy{Name: "p", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
				Window: &policy.WindowSpec{Event: &policy.EventSpec{Source: "ops", Open: tt.open, Key: tt.key, Max: time.Hour}}})
			got, err := e.MatchEvent("p", ev)
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
