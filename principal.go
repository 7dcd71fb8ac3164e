package stint

import "strings"

// Principal kinds.
const (
	KindWorkload = "workload" // a non-human identity
	KindHuman    = "human"    // an approver or an admin
)

// Principal is an authenticated caller.
type Principal struct {
	Name   string         `json:"name"` // the subject string, e.g. "svc/nightly-backup"
	Kind   string         `json:"kind"`
	Issuer string         `json:"issuer,omitempty"` // "static" or an OIDC issuer name
	Groups []string       `json:"groups,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
	Admin  bool           `json:"admin,omitempty"`
}

// InGroup reports whether p is a member of group.
func (p *Principal) InGroup(group string) bool {
	for _, g := range p.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Matches reports whether p is named by ref, which is either "group:NAME" or
// a subject.
func (p *Principal) Matches(ref string) bool {
	if g, ok := strings.CutPrefix(ref, "group:"); ok {
		return p.InGroup(g)
	}
	return p.Name == ref
}
