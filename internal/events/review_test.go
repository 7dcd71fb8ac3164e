package events_test

import (
	"testing"
	"time"

	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/internal/events"
)

// A GitHub delivery captured once (body + X-Hub-Signature-256) can be replayed
// at any later time as a new event: the delivery id and the event name are
// unsigned headers, and GitHub events carry no time, so Time is "now".
func TestReview_GitHubReplay(t *testing.T) {
	src := &config.EventSource{Name: "github", Type: config.EventGitHub, Secret: secret}
	body := `{"action":"created","deployment":{"id":1}}`
	sig := "sha256=" + hmacHex(secret, body)
	first, err := events.Parse(src, hdr("X-Hub-Signature-256", sig, "X-GitHub-Event", "deployment", "X-GitHub-Delivery", "d-1"), []byte(body), now)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(30 * 24 * time.Hour)
	// Replayed a month later, with a fresh delivery id and another event name.
	again, err := events.Parse(src, hdr("X-Hub-Signature-256", sig, "X-GitHub-Event", "deployment_status", "X-GitHub-Delivery", "d-2"), []byte(body), later)
	// Parse cannot tell a replay from a redelivery, but both get the id of
	// the first delivery, which the store keeps: it counts once.
	if err == nil && again[0].ID != first[0].ID {
		t.Fatalf("replay gets a new id: first %s, replay %s (type %q)", first[0].ID, again[0].ID, again[0].Type)
	}
}
