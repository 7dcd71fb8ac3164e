package broker

import (
	"context"
	"fmt"
	"sort"

	"github.com/stint-io/stint"
)

// AuditDiscoveryRun is the audit type of a discovery run.
const AuditDiscoveryRun = "discovery.run"

// Discover finds the standing privileges on resource (or on every resource
// whose provider can discover, for ""), stores each run's result for the
// standing-access metric, and returns the runs. Humans only. Returns EDENIED
// for workloads, EINVALID for a resource that is unknown or cannot discover,
// EUNAVAILABLE when the target cannot be read.
func (s *Service) Discover(ctx context.Context, resource string) ([]*stint.DiscoveryRun, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Kind != stint.KindHuman && !p.Admin {
		return nil, stint.Errorf(stint.EDENIED, "only humans may run discovery")
	}
	ds, ok := s.Store.(stint.DiscoveryStore)
	if !ok {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "this store cannot keep discovery results")
	}
	rt := s.runtime.Load()
	if rt == nil {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "broker not configured")
	}
	var names []string
	if resource != "" {
		r, ok := rt.Resources[resource]
		if !ok {
			return nil, stint.Errorf(stint.EINVALID, "unknown resource %q", clip(resource))
		}
		if _, ok := r.Provider.(stint.Discoverer); !ok {
			return nil, stint.Errorf(stint.EINVALID, "resource %q (provider %s) cannot discover standing privileges", resource, r.Type)
		}
		names = []string{resource}
	} else {
		for name, r := range rt.Resources {
			if _, ok := r.Provider.(stint.Discoverer); ok {
				names = append(names, name)
			}
		}
		sort.Strings(names)
	}
	runs := make([]*stint.DiscoveryRun, 0, len(names))
	for _, name := range names {
		d := rt.Resources[name].Provider.(stint.Discoverer)
		dctx, cancel := context.WithTimeout(ctx, s.IssueTimeout)
		privs, err := d.Discover(dctx)
		cancel()
		if err != nil {
			return nil, stint.Errorf(stint.EUNAVAILABLE, "discovery on %s failed: %s", name, providerMessage(err))
		}
		for i := range privs {
			privs[i].Resource = name
		}
		run := &stint.DiscoveryRun{Resource: name, Time: s.now(), Privileges: privs}
		rec := &stint.AuditRecord{Time: run.Time, Type: AuditDiscoveryRun, Actor: p.Name,
			Details: map[string]any{"resource": name, "found": len(privs)}}
		if err := ds.SaveDiscovery(ctx, run, rec); err != nil {
			return nil, fmt.Errorf("save discovery: %w", err)
		}
		runs = append(runs, run)
	}
	return runs, nil
}
