package sqlite_test

import (
	"testing"
	"time"
)

func TestZZUpdateCost(t *testing.T) {
	s := MustOpenStore(t)
	b := &testing.B{}
	_ = b
	db := s.DB()
	if _, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
		INSERT INTO grants (id, principal, principal_kind, access, state, policy, reason, ticket,
			requested_ttl, ttl, max_ttl, requested_at, activated_at, expires_at, ended_at,
			approvals, approvals_required, approvers, approval_deadline, window_ref, break_glass,
			provider, revocation, detail, end_state, attempts, provider_data, due_at, version)
		SELECT printf('%020d', i), 'svc/p' || (i % 1000), 'workload', 'r' || (i % 50) || '/role',
			'active', 'routine', 'bench', '', 0, 0, 0, 0, 0, 0, NULL, 'null', 0, 'null', NULL, 'null', 0, 'token', 'early', '', '',
			0, 'null', (i*7919 % 100000) * 1000000000, 1 FROM c`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE grants SET detail = 'x' || ?2 WHERE id = printf('%020d', ?1)`,
		`UPDATE grants SET detail = 'x' || ?2, state = state, principal = principal, access = access, due_at = due_at, claimed_until = claimed_until WHERE id = printf('%020d', ?1)`,
		`UPDATE grants SET detail = 'x' || ?2 WHERE id = printf('%020d', ?1)`,
		`UPDATE grants SET detail = 'x' || ?2, state = state, principal = principal, access = access, due_at = due_at, claimed_until = claimed_until WHERE id = printf('%020d', ?1)`,
	} {
		tx, _ := db.Begin()
		st, _ := tx.Prepare(q)
		start := time.Now()
		for i := 1; i <= 20000; i++ {
			if _, err := st.Exec((i*104729)%100000+1, i); err != nil {
				t.Fatal(err)
			}
		}
		tx.Commit()
		t.Logf("%v per update: %.60s", time.Since(start)/20000, q)
	}
}
