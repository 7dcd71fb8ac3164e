package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stint-io/stint"
)

func testListGrants(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	// 30 grants, one a millisecond apart, so ids sort by creation.
	states := []stint.State{stint.StateActive, stint.StatePending, stint.StateExpired}
	var all []*stint.Grant // newest first
	for i := range 30 {
		g := NewGrant(Base.Add(time.Duration(i)*time.Millisecond),
			fmt.Sprintf("svc/p%d", i%2), fmt.Sprintf("r%d/role", i%5), states[i%3])
		mustCreate(t, s, g)
		all = append([]*stint.Grant{g}, all...)
	}
	where := func(keep func(*stint.Grant) bool) []string {
		var ids []string
		for _, g := range all {
			if keep(g) {
				ids = append(ids, g.ID)
			}
		}
		return ids
	}
	tests := []struct {
		name   string
		filter stint.GrantFilter
		want   []string
	}{
		{"All", stint.GrantFilter{}, where(func(*stint.Grant) bool { return true })},
		{"State", stint.GrantFilter{State: []stint.State{stint.StatePending}},
			where(func(g *stint.Grant) bool { return g.State == stint.StatePending })},
		{"States", stint.GrantFilter{State: []stint.State{stint.StateActive, stint.StateExpired}},
			where(func(g *stint.Grant) bool { return g.State != stint.StatePending })},
		{"Principal", stint.GrantFilter{Principal: "svc/p1"},
			where(func(g *stint.Grant) bool { return g.Principal == "svc/p1" })},
		{"Access", stint.GrantFilter{Access: "r3/role"},
			where(func(g *stint.Grant) bool { return g.Access == "r3/role" })},
		{"IDs", stint.GrantFilter{IDs: []string{all[3].ID, all[7].ID, "nope"}}, []string{all[3].ID, all[7].ID}},
		{"Combined", stint.GrantFilter{State: []stint.State{stint.StateActive}, Principal: "svc/p0", Access: "r0/role"},
			where(func(g *stint.Grant) bool {
				return g.State == stint.StateActive && g.Principal == "svc/p0" && g.Access == "r0/role"
			})},
		{"NoMatch", stint.GrantFilter{Principal: "svc/nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, next, err := s.ListGrants(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" {
				t.Errorf("next cursor = %q, want none", next)
			}
			if got := ids(gs); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("Fields", func(t *testing.T) {
		gs, _, err := s.ListGrants(ctx, stint.GrantFilter{Limit: 1})
		if err != nil || len(gs) != 1 {
			t.Fatalf("ListGrants = %d grants, %v", len(gs), err)
		}
		assertGrant(t, gs[0], all[0])
		if gs[0].Version != 1 {
			t.Errorf("Version = %d, want 1", gs[0].Version)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		for _, f := range []stint.GrantFilter{{Limit: 7}, {Limit: 5, Principal: "svc/p0"}, {Limit: 10}} {
			want := where(func(g *stint.Grant) bool { return f.Principal == "" || g.Principal == f.Principal })
			var got []string
			pages := 0
			for {
				gs, next, err := s.ListGrants(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(gs) > f.Limit {
					t.Fatalf("page of %d grants, limit %d", len(gs), f.Limit)
				}
				pages++
				got = append(got, ids(gs)...)
				if next == "" {
					break
				}
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				f.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("filter %+v: paged ids = %v, want %v", f, got, want)
			}
			if wantPages := (len(want) + f.Limit - 1) / f.Limit; pages != wantPages {
				t.Errorf("filter %+v: %d pages, want %d", f, pages, wantPages)
			}
		}
	})
	t.Run("BadCursor", func(t *testing.T) {
		for _, c := range []string{"!!!", "bm90IGEgY3Vyc29y", "%%"} {
			_, _, err := s.ListGrants(ctx, stint.GrantFilter{Cursor: c})
			assertCode(t, err, stint.EINVALID)
		}
	})
}

// testDefaultLimit is part of ListGrants in spirit but needs more grants.
func testDefaultLimit(t *testing.T, open func(*testing.T) stint.Store) {
	ctx := context.Background()
	s := open(t)
	for i := range 105 {
		g := NewGrant(Base.Add(time.Duration(i)*time.Millisecond), "svc/a", "a/b", stint.StateActive)
		if err := s.CreateGrant(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
	}
	gs, next, err := s.ListGrants(ctx, stint.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 100 || next == "" {
		t.Fatalf("default page: %d grants, next %q; want 100 and a cursor", len(gs), next)
	}
	gs, next, err = s.ListGrants(ctx, stint.GrantFilter{Cursor: next})
	if err != nil || len(gs) != 5 || next != "" {
		t.Fatalf("second page: %d grants, next %q, %v; want 5, none", len(gs), next, err)
	}
}

func ids(gs []*stint.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}
