package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/internal/policy"
)

func asError[T error](err error, target *T) bool { return errors.As(err, target) }

// parsePagerDuty handles a PagerDuty v3 webhook.
func parsePagerDuty(src *config.EventSource, h http.Header, body []byte) (policy.Event, error) {
	sig := strings.Join(h.Values(HeaderPagerDutySignature), ",")
	if strings.TrimSpace(sig) == "" {
		return policy.Event{}, unauthorized(src, "missing %s", HeaderPagerDutySignature)
	}
	var v1 []string
	for _, part := range strings.Split(sig, ",") {
		if hexSig, ok := strings.CutPrefix(strings.TrimSpace(part), "v1="); ok {
			v1 = append(v1, hexSig)
		}
	}
	if len(v1) == 0 {
		return policy.Event{}, unauthorized(src, "malformed %s: want v1=HEX", HeaderPagerDutySignature)
	}
	if !matchHex(mac(src.Secret, body), v1) {
		return policy.Event{}, unauthorized(src, "signature mismatch")
	}
	var msg struct {
		Event *struct {
			ID         string         `json:"id"`
			EventType  string         `json:"event_type"`
			OccurredAt string         `json:"occurred_at"`
			Data       map[string]any `json:"data"`
		} `json:"event"`
	}
	if err := decodeObject(body, &msg, false); err != nil {
		return policy.Event{}, invalid(src, "%s", jsonError(err))
	}
	switch {
	case msg.Event == nil:
		return policy.Event{}, invalid(src, "missing event")
	case msg.Event.ID == "":
		return policy.Event{}, invalid(src, "missing event.id")
	case msg.Event.EventType == "":
		return policy.Event{}, invalid(src, "missing event.event_type")
	}
	ev := policy.Event{Type: msg.Event.EventType, ID: msg.Event.ID, Data: msg.Event.Data}
	if msg.Event.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, msg.Event.OccurredAt)
		if err != nil {
			return policy.Event{}, invalid(src, "event.occurred_at is not an RFC 3339 time")
		}
		ev.Time = t
	}
	return ev, nil
}

// parseGitHub handles a GitHub webhook.
func parseGitHub(src *config.EventSource, h http.Header, body []byte) (policy.Event, error) {
	sig := h.Get(HeaderGitHubSignature)
	if sig == "" {
		return policy.Event{}, unauthorized(src, "missing %s", HeaderGitHubSignature)
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(sig), "sha256=")
	if !ok {
		return policy.Event{}, unauthorized(src, "malformed %s: want sha256=HEX", HeaderGitHubSignature)
	}
	if !matchHex(mac(src.Secret, body), []string{hexSig}) {
		return policy.Event{}, unauthorized(src, "signature mismatch")
	}
	typ, id := strings.TrimSpace(h.Get(HeaderGitHubEvent)), strings.TrimSpace(h.Get(HeaderGitHubDelivery))
	switch {
	case typ == "":
		return policy.Event{}, invalid(src, "missing %s", HeaderGitHubEvent)
	case id == "":
		return policy.Event{}, invalid(src, "missing %s", HeaderGitHubDelivery)
	}
	payload := body
	if ct, _, _ := mime.ParseMediaType(h.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("payload") {
			return policy.Event{}, invalid(src, "form body without payload")
		}
		payload = []byte(form.Get("payload"))
	}
	var data map[string]any
	if err := decodeObject(payload, &data, false); err != nil {
		return policy.Event{}, invalid(src, "%s", jsonError(err))
	}
	if action, ok := data["action"].(string); ok && action != "" {
		typ += "." + action
	}
	// GitHub signs the body only: the delivery id and event name are not
	// covered, so a captured delivery could be replayed under a new id. The
	// id is therefore the body's digest, which also makes a redelivery count
	// once.
	sum := sha256.Sum256(body)
	return policy.Event{Type: typ, ID: "sha256:" + hex.EncodeToString(sum[:16]), Data: data}, nil
}

// parseGeneric handles Stint's own signed scheme.
func parseGeneric(src *config.EventSource, h http.Header, body []byte, now time.Time) (policy.Event, error) {
	stamp, sig := strings.TrimSpace(h.Get(HeaderStintTimestamp)), strings.TrimSpace(h.Get(HeaderStintSignature))
	switch {
	case sig == "":
		return policy.Event{}, unauthorized(src, "missing %s", HeaderStintSignature)
	case stamp == "":
		return policy.Event{}, unauthorized(src, "missing %s", HeaderStintTimestamp)
	}
	sec, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return policy.Event{}, unauthorized(src, "malformed %s", HeaderStintTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return policy.Event{}, unauthorized(src, "stale %s (%s from now)", HeaderStintTimestamp, d.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return policy.Event{}, unauthorized(src, "malformed %s: want sha256=HEX", HeaderStintSignature)
	}
	if !matchHex(mac(src.Secret, []byte(stamp), []byte{'.'}, body), []string{hexSig}) {
		return policy.Event{}, unauthorized(src, "signature mismatch")
	}
	var msg struct {
		Type string         `json:"type"`
		ID   string         `json:"id"`
		Time *time.Time     `json:"time"`
		Data map[string]any `json:"data"`
	}
	if err := decodeObject(body, &msg, true); err != nil {
		var pe *time.ParseError
		if asError(err, &pe) {
			return policy.Event{}, invalid(src, "time is not an RFC 3339 time")
		}
		return policy.Event{}, invalid(src, "%s", jsonError(err))
	}
	switch {
	case strings.TrimSpace(msg.Type) == "":
		return policy.Event{}, invalid(src, "missing type")
	case strings.TrimSpace(msg.ID) == "":
		return policy.Event{}, invalid(src, "missing id")
	}
	ev := policy.Event{Type: msg.Type, ID: msg.ID, Data: msg.Data}
	if msg.Time != nil {
		ev.Time = *msg.Time
	}
	return ev, nil
}
