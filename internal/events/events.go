// Package events checks and parses the webhooks of event sources
// (POST /v1/events/{source}) into policy events. It is pure: no I/O and no
// clock reads.
package events

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/internal/policy"
)

// MaxBody is the largest body the caller should read before Parse.
const MaxBody = 1 << 20

// Tolerance is how far the X-Stint-Timestamp of a generic event may be from
// now.
const Tolerance = 5 * time.Minute

// Headers read by Parse.
const (
	HeaderPagerDutySignature = "X-PagerDuty-Signature"
	HeaderGitHubSignature    = "X-Hub-Signature-256"
	HeaderGitHubEvent        = "X-GitHub-Event"
	HeaderGitHubDelivery     = "X-GitHub-Delivery"
	HeaderStintTimestamp     = "X-Stint-Timestamp"
	HeaderStintSignature     = "X-Stint-Signature"
)

// Parse verifies the signature of a webhook delivered to src and parses its
// body into events, each with Source src.Name. It checks the signature
// before reading the body. An event's Time is when it occurred as the sender
// says, never after now (now when the sender does not say); its Key is "";
// its ID identifies the delivery so that a redelivery can be recognised.
//
// Source types:
//   - pagerduty (v3 webhooks): X-PagerDuty-Signature holds one or more
//     "v1=HEX" of HMAC-SHA256(secret, body), comma-separated (several during
//     a secret rotation; any may match). The event is body.event: Type its
//     event_type ("incident.triggered"), ID its id, Time its occurred_at,
//     Data its data.
//   - github: X-Hub-Signature-256 is "sha256=HEX" of HMAC-SHA256(secret,
//     body). Type is X-GitHub-Event, followed by "." and the body's action
//     when it has one ("deployment.created"); ID is X-GitHub-Delivery; Data
//     is the whole body (JSON, or the payload field of a form-encoded body).
//   - generic: X-Stint-Timestamp is Unix seconds within Tolerance of now, and
//     X-Stint-Signature "sha256=HEX" of HMAC-SHA256(secret,
//     timestamp + "." + body), as Stint signs its own notifications. The body is
//     {"type", "id", "time" (RFC 3339, optional), "data" (object, optional)}.
//
// Returns EUNAUTHORIZED for a missing, malformed, stale or wrong signature
// (and for a source without a secret), and EINVALID for a malformed body or
// an unknown source type. Messages never contain the secret.
func Parse(src *config.EventSource, header http.Header, body []byte, now time.Time) ([]policy.Event, error) {
	if src == nil {
		return nil, stint.Errorf(stint.EINVALID, "events: no such source")
	}
	if src.Secret == "" {
		return nil, stint.Errorf(stint.EUNAUTHORIZED, "events: source %s has no secret to verify with", src.Name)
	}
	var (
		ev  policy.Event
		err error
	)
	switch src.Type {
	case config.EventPagerDuty:
		ev, err = parsePagerDuty(src, header, body)
	case config.EventGitHub:
		ev, err = parseGitHub(src, header, body)
	case config.EventGeneric:
		ev, err = parseGeneric(src, header, body, now)
	default:
		return nil, stint.Errorf(stint.EINVALID, "events: source %s has unknown type %q", src.Name, src.Type)
	}
	if err != nil {
		return nil, err
	}
	if !validField(ev.ID) || !validField(ev.Type) {
		return nil, invalid(src, "event id and type must be at most %d characters without control characters", maxField)
	}
	ev.Source = src.Name
	if ev.Time.IsZero() || ev.Time.After(now) {
		ev.Time = now
	}
	ev.Time = ev.Time.UTC()
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
	return []policy.Event{ev}, nil
}

// maxField bounds an event's ID and Type, which are stored and audited.
const maxField = 256

func validField(s string) bool {
	if len(s) > maxField || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// mac returns HMAC-SHA256(secret, parts...).
func mac(secret config.Secret, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// matchHex reports, in constant time for each candidate, whether any of the
// hex strings decodes to want.
func matchHex(want []byte, candidates []string) bool {
	ok := false
	for _, c := range candidates {
		got, err := hex.DecodeString(strings.TrimSpace(c))
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}

// decodeObject decodes a JSON object from b into v, refusing trailing data.
func decodeObject(b []byte, v any, strict bool) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errTrailing
	}
	return nil
}

var (
	errNotObject = stint.Errorf(stint.EINVALID, "not a JSON object")
	errTrailing  = stint.Errorf(stint.EINVALID, "data after the JSON object")
)

// invalid returns the EINVALID error of a malformed body of src.
func invalid(src *config.EventSource, format string, args ...any) error {
	return stint.Errorf(stint.EINVALID, "events: %s: "+format, append([]any{src.Name}, args...)...)
}

// unauthorized returns the EUNAUTHORIZED error of a bad signature of src.
func unauthorized(src *config.EventSource, format string, args ...any) error {
	return stint.Errorf(stint.EUNAUTHORIZED, "events: %s: "+format, append([]any{src.Name}, args...)...)
}

// jsonError describes a decoding error without quoting the body.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == errNotObject, err == errTrailing:
		return err.(*stint.Error).Message
	case asError(err, &se):
		return "malformed JSON"
	case asError(err, &te):
		return "field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}
