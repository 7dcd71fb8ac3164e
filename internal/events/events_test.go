package events_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/internal/events"
	"github.com/stint-io/stint/internal/notify"
	"github.com/stint-io/stint/internal/policy"
)

const secret = "s3cr3t-webhook-key"

var now = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

type parseCase struct {
	name   string
	header http.Header
	body   string
	code   string         // expected error code, "" for success
	want   []policy.Event // checked on success when not nil
}

func runParse(t *testing.T, src *config.EventSource, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.Parse(src, tt.header, []byte(tt.body), now)
			if code := stint.ErrorCode(err); code != tt.code {
				t.Fatalf("got code %q (%v), want %q", code, err, tt.code)
			}
			if err != nil && strings.Contains(err.Error(), string(src.Secret)) {
				t.Fatalf("error shows the secret: %v", err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParse_PagerDuty(t *testing.T) {
	src := &config.EventSource{Name: "pd", Type: config.EventPagerDuty, Secret: secret}
	body := `{"event":{"id":"01DEN8OLSBHP4YDFS3IJ2HHGCA","event_type":"incident.triggered","resource_type":"incident",` +
		`"occurred_at":"2024-05-01T09:58:30.123Z","data":{"id":"PGR0VU2","type":"incident","urgency":"high","status":"triggered"}}}`
	good := "v1=" + hmacHex(secret, body)
	want := []policy.Event{{Source: "pd", Type: "incident.triggered", ID: "01DEN8OLSBHP4YDFS3IJ2HHGCA",
		Time: time.Date(2024, 5, 1, 9, 58, 30, 123e6, time.UTC),
		Data: map[string]any{"id": "PGR0VU2", "type": "incident", "urgency": "high", "status": "triggered"}}}
	sign := func(b string) http.Header { return hdr(events.HeaderPagerDutySignature, "v1="+hmacHex(secret, b)) }
	runParse(t, src, []parseCase{
		{"Good", hdr(events.HeaderPagerDutySignature, good), body, "", want},
		{"Rotation", hdr(events.HeaderPagerDutySignature, "v1="+hmacHex("old-secret", body)+", "+good), body, "", want},
		{"RotationSecond", hdr(events.HeaderPagerDutySignature, good+",v1="+hmacHex("new-secret", body)), body, "", want},
		{"TwoHeaders", hdr(events.HeaderPagerDutySignature, "v1=00", events.HeaderPagerDutySignature, good), body, "", want},
		{"Missing", hdr(), body, stint.EUNAUTHORIZED, nil},
		{"Forged", hdr(events.HeaderPagerDutySignature, "v1="+hmacHex("guess", body)), body, stint.EUNAUTHORIZED, nil},
		{"AllWrong", hdr(events.HeaderPagerDutySignature, "v1="+hmacHex("a", body)+",v1="+hmacHex("b", body)), body, stint.EUNAUTHORIZED, nil},
		{"Tampered", hdr(events.HeaderPagerDutySignature, good), strings.Replace(body, "high", "low ", 1), stint.EUNAUTHORIZED, nil},
		{"NoV1", hdr(events.HeaderPagerDutySignature, "v0="+hmacHex(secret, body)), body, stint.EUNAUTHORIZED, nil},
		{"NotHex", hdr(events.HeaderPagerDutySignature, "v1=zz"), body, stint.EUNAUTHORIZED, nil},
		{"Empty", hdr(events.HeaderPagerDutySignature, "v1="), body, stint.EUNAUTHORIZED, nil},
		{"NotJSON", sign("nope"), "nope", stint.EINVALID, nil},
		{"Array", sign("[]"), "[]", stint.EINVALID, nil},
		{"Trailing", sign(body + "{}"), body + "{}", stint.EINVALID, nil},
		{"NoEvent", sign(`{}`), `{}`, stint.EINVALID, nil},
		{"NoID", sign(`{"event":{"event_type":"incident.triggered"}}`), `{"event":{"event_type":"incident.triggered"}}`, stint.EINVALID, nil},
		{"NoType", sign(`{"event":{"id":"x"}}`), `{"event":{"id":"x"}}`, stint.EINVALID, nil},
		{"BadTime", sign(`{"event":{"id":"x","event_type":"t","occurred_at":"yesterday"}}`), `{"event":{"id":"x","event_type":"t","occurred_at":"yesterday"}}`, stint.EINVALID, nil},
		{"DataNotObject", sign(`{"event":{"id":"x","event_type":"t","data":[1]}}`), `{"event":{"id":"x","event_type":"t","data":[1]}}`, stint.EINVALID, nil},
		{"ControlInID", sign(`{"event":{"id":"x\n","event_type":"t"}}`), `{"event":{"id":"x\n","event_type":"t"}}`, stint.EINVALID, nil},
		{"NoTimeNoData", sign(`{"event":{"id":"x","event_type":"pagey.ping"}}`), `{"event":{"id":"x","event_type":"pagey.ping"}}`, "",
			[]policy.Event{{Source: "pd", Type: "pagey.ping", ID: "x", Time: now, Data: map[string]any{}}}},
		{"FutureTimeIsNow", sign(`{"event":{"id":"x","event_type":"t","occurred_at":"2030-01-01T00:00:00Z"}}`), `{"event":{"id":"x","event_type":"t","occurred_at":"2030-01-01T00:00:00Z"}}`, "",
			[]policy.Event{{Source: "pd", Type: "t", ID: "x", Time: now, Data: map[string]any{}}}},
	})
}

func TestParse_GitHub(t *testing.T) {
	src := &config.EventSource{Name: "gh", Type: config.EventGitHub, Secret: secret}
	body := `{"action":"created","deployment":{"id":1,"environment":"production"},"repository":{"full_name":"acme/api"}}`
	good := "sha256=" + hmacHex(secret, body)
	headers := func(sig string) http.Header {
		return hdr(events.HeaderGitHubSignature, sig, events.HeaderGitHubEvent, "deployment", events.HeaderGitHubDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	}
	// The id is the digest of the signed body, not the unsigned delivery id.
	wantFor := func(raw string) []policy.Event {
		return []policy.Event{{Source: "gh", Type: "deployment.created", ID: ghID(raw), Time: now,
			Data: map[string]any{"action": "created", "deployment": map[string]any{"id": 1.0, "environment": "production"},
				"repository": map[string]any{"full_name": "acme/api"}}}}
	}
	form := url.Values{"payload": {body}}.Encode()
	formHeader := headers("sha256=" + hmacHex(secret, form))
	formHeader.Set("Content-Type", "application/x-www-form-urlencoded")
	push := `{"ref":"refs/heads/main"}`
	pushHeader := hdr(events.HeaderGitHubSignature, "sha256="+hmacHex(secret, push), events.HeaderGitHubEvent, "push", events.HeaderGitHubDelivery, "d1")
	runParse(t, src, []parseCase{
		{"Good", headers(good), body, "", wantFor(body)},
		{"Form", formHeader, form, "", wantFor(form)},
		{"NoAction", pushHeader, push, "", []policy.Event{{Source: "gh", Type: "push", ID: ghID(push), Time: now, Data: map[string]any{"ref": "refs/heads/main"}}}},
		{"Missing", headers(""), body, stint.EUNAUTHORIZED, nil},
		{"Forged", headers("sha256=" + hmacHex("guess", body)), body, stint.EUNAUTHORIZED, nil},
		{"SHA1Only", headers("sha1=" + hmacHex(secret, body)), body, stint.EUNAUTHORIZED, nil},
		{"Tampered", headers(good), strings.Replace(body, "production", "staging", 1), stint.EUNAUTHORIZED, nil},
		{"NoEventHeader", hdr(events.HeaderGitHubSignature, good, events.HeaderGitHubDelivery, "d"), body, stint.EINVALID, nil},
		{"NoDelivery", hdr(events.HeaderGitHubSignature, good, events.HeaderGitHubEvent, "deployment"), body, stint.EINVALID, nil},
		{"NotJSON", headers("sha256=" + hmacHex(secret, "{")), "{", stint.EINVALID, nil},
	})

	// GitHub's documented vector: the signature checks, then the body (not
	// JSON) is refused as invalid, not as unauthorized.
	doc := &config.EventSource{Name: "gh", Type: config.EventGitHub, Secret: "It's a Secret to Everybody"}
	h := hdr(events.HeaderGitHubSignature, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		events.HeaderGitHubEvent, "ping", events.HeaderGitHubDelivery, "d")
	if _, err := events.Parse(doc, h, []byte("Hello, World!"), now); stint.ErrorCode(err) != stint.EINVALID {
		t.Fatalf("documented vector: %v", err)
	}
	if _, err := events.Parse(doc, h, []byte("Hello, World?"), now); stint.ErrorCode(err) != stint.EUNAUTHORIZED {
		t.Fatalf("documented vector, changed body: %v", err)
	}
}

func TestParse_Generic(t *testing.T) {
	src := &config.EventSource{Name: "ops", Type: config.EventGeneric, Secret: secret}
	body := `{"type":"maintenance.started","id":"m-42","time":"2024-05-01T09:59:00Z","data":{"ticket":"OPS-1"}}`
	signed := func(at time.Time, b string) http.Header {
		stamp := strconv.FormatInt(at.Unix(), 10)
		return hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, notify.Sign(secret, stamp, []byte(b)))
	}
	want := []policy.Event{{Source: "ops", Type: "maintenance.started", ID: "m-42",
		Time: time.Date(2024, 5, 1, 9, 59, 0, 0, time.UTC), Data: map[string]any{"ticket": "OPS-1"}}}
	stamp := strconv.FormatInt(now.Unix(), 10)
	runParse(t, src, []parseCase{
		{"Good", signed(now, body), body, "", want},
		{"ComputedHMAC", hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, "sha256="+hmacHex(secret, stamp+"."+body)), body, "", want},
		{"Skew", signed(now.Add(-4*time.Minute), body), body, "", want},
		{"FutureSkew", signed(now.Add(5*time.Minute), body), body, "", want},
		{"Stale", signed(now.Add(-5*time.Minute-time.Second), body), body, stint.EUNAUTHORIZED, nil},
		{"TooFarAhead", signed(now.Add(6*time.Minute), body), body, stint.EUNAUTHORIZED, nil},
		{"MissingSignature", hdr(events.HeaderStintTimestamp, stamp), body, stint.EUNAUTHORIZED, nil},
		{"MissingTimestamp", hdr(events.HeaderStintSignature, notify.Sign(secret, stamp, []byte(body))), body, stint.EUNAUTHORIZED, nil},
		{"BadTimestamp", hdr(events.HeaderStintTimestamp, "soon", events.HeaderStintSignature, notify.Sign(secret, "soon", []byte(body))), body, stint.EUNAUTHORIZED, nil},
		{"OtherTimestamp", hdr(events.HeaderStintTimestamp, strconv.FormatInt(now.Unix()-1, 10), events.HeaderStintSignature, notify.Sign(secret, stamp, []byte(body))), body, stint.EUNAUTHORIZED, nil},
		{"Forged", hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, notify.Sign("guess", stamp, []byte(body))), body, stint.EUNAUTHORIZED, nil},
		{"BodyOnly", hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, "sha256="+hmacHex(secret, body)), body, stint.EUNAUTHORIZED, nil},
		{"NoPrefix", hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, hmacHex(secret, stamp+"."+body)), body, stint.EUNAUTHORIZED, nil},
		{"NoType", signed(now, `{"id":"x"}`), `{"id":"x"}`, stint.EINVALID, nil},
		{"NoID", signed(now, `{"type":"x"}`), `{"type":"x"}`, stint.EINVALID, nil},
		{"UnknownField", signed(now, `{"type":"x","id":"y","extra":1}`), `{"type":"x","id":"y","extra":1}`, stint.EINVALID, nil},
		{"BadTime", signed(now, `{"type":"x","id":"y","time":"noon"}`), `{"type":"x","id":"y","time":"noon"}`, stint.EINVALID, nil},
		{"DataNotObject", signed(now, `{"type":"x","id":"y","data":"z"}`), `{"type":"x","id":"y","data":"z"}`, stint.EINVALID, nil},
		{"Malformed", signed(now, `{"type":`), `{"type":`, stint.EINVALID, nil},
		{"LongID", signed(now, `{"type":"x","id":"`+strings.Repeat("i", 300)+`"}`), `{"type":"x","id":"` + strings.Repeat("i", 300) + `"}`, stint.EINVALID, nil},
		{"Minimal", signed(now, `{"type":"x","id":"y"}`), `{"type":"x","id":"y"}`, "",
			[]policy.Event{{Source: "ops", Type: "x", ID: "y", Time: now, Data: map[string]any{}}}},
	})
}

func TestParse_Source(t *testing.T) {
	body := []byte(`{"type":"x","id":"y"}`)
	stamp := strconv.FormatInt(now.Unix(), 10)
	h := hdr(events.HeaderStintTimestamp, stamp, events.HeaderStintSignature, notify.Sign("", stamp, body))
	tests := []struct {
		name string
		src  *config.EventSource
		code string
	}{
		{"NoSecret", &config.EventSource{Name: "ops", Type: config.EventGeneric}, stint.EUNAUTHORIZED},
		{"UnknownType", &config.EventSource{Name: "ops", Type: "smoke-signals", Secret: secret}, stint.EINVALID},
		{"Nil", nil, stint.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := events.Parse(tt.src, h, body, now); stint.ErrorCode(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

// TestParse_Window checks that a parsed PagerDuty event drives the
// contract's incident-response window expressions.
func TestParse_Window(t *testing.T) {
	src := &config.EventSource{Name: "pagerduty", Type: config.EventPagerDuty, Secret: secret}
	body := `{"event":{"id":"E1","event_type":"incident.triggered","occurred_at":"2024-05-01T09:00:00Z","data":{"id":"PGR0VU2","urgency":"high"}}}`
	evs, err := events.Parse(src, hdr(events.HeaderPagerDutySignature, "v1="+hmacHex(secret, body)), []byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	p := &policy.Policy{Name: "ir", Who: "true", Access: []string{"db/ro"}, TTL: time.Hour,
		Window: &policy.WindowSpec{Event: &policy.EventSpec{Source: "pagerduty",
			Open:  `event.type == "incident.triggered" && event.data.urgency == "high"`,
			Close: `event.type == "incident.resolved"`, Key: `event.data.id`, Max: 4 * time.Hour}}}
	e, err := policy.Compile([]*policy.Policy{p})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.MatchEvent("ir", evs[0])
	if err != nil || m != (policy.EventMatch{Open: true, Key: "PGR0VU2"}) {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func ghID(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(sum[:16])
}
