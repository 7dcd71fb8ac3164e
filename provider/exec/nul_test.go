package exec_test

import (
	"context"
	"testing"
)

// A caller's text that no environment can carry (a NUL byte) must never keep
// the grant or revoke command from running: the broker refuses such text,
// and the provider drops NUL bytes as a second line.
func TestProvider_ReasonWithNUL(t *testing.T) {
	dir := t.TempDir()
	g := writeScript(t, dir, "grant", "exit 0\n")
	r := writeScript(t, dir, "revoke", "exit 0\n")
	p := mustNew(t, config([]string{g}, []string{r}, ""))
	gr := newGrant("operator")
	gr.Reason, gr.Ticket = "deploy\x00", "\x00T-1"
	if _, err := p.Issue(context.Background(), gr); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if err := p.Revoke(context.Background(), gr); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}
