// Package grantjson encodes the list and map fields of a grant (approvals,
// approvers, window, provider data) as the JSON text both stores keep in
// their own columns.
package grantjson

import (
	"encoding/json"
	"fmt"

	"github.com/stint-io/stint"
)

// Encode returns the JSON text of g's approvals, approvers, window and
// provider data.
func Encode(g *stint.Grant) (approvals, approvers, window, providerData string, err error) {
	out := [4]string{}
	for i, f := range []struct {
		name string
		v    any
	}{{"approvals", g.Approvals}, {"approvers", g.Approvers}, {"window", g.Window}, {"provider data", g.ProviderData}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return "", "", "", "", fmt.Errorf("encode %s: %w", f.name, err)
		}
		out[i] = string(b)
	}
	return out[0], out[1], out[2], out[3], nil
}

// Decode sets g's approvals, approvers, window and provider data from their
// JSON text.
func Decode(g *stint.Grant, approvals, approvers, window, providerData []byte) error {
	for _, f := range []struct {
		name string
		b    []byte
		v    any
	}{
		{"approvals", approvals, &g.Approvals},
		{"approvers", approvers, &g.Approvers},
		{"window", window, &g.Window},
		{"provider data", providerData, &g.ProviderData},
	} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return fmt.Errorf("grant %s: decode %s: %w", g.ID, f.name, err)
		}
	}
	return nil
}
