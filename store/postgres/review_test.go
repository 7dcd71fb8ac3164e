package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/audit"
	"github.com/stint-io/stint/store/storetest"
)

// Database-level default isolation other than READ COMMITTED.
func TestStore_ReviewIsolationDefault(t *testing.T) {
	for _, iso := range []string{"repeatable read", "serializable"} {
		t.Run(iso, func(t *testing.T) {
			ctx := context.Background()
			dsn := newDatabase(t)
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			var db string
			c.QueryRow(ctx, `SELECT current_database()`).Scan(&db)
			if _, err := c.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s SET default_transaction_isolation = '%s'`, db, iso)); err != nil {
				t.Fatal(err)
			}
			c.Close(ctx)
			replicas := []stint.Store{mustOpen(t, dsn), mustOpen(t, dsn)}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var fails []error
			ok := 0
			for _, s := range replicas {
				for range 4 {
					wg.Go(func() {
						for range 25 {
							err := s.AppendAudit(ctx, storetest.NewRecord(time.Time{}, stint.AuditConfigLoaded, nil))
							mu.Lock()
							if err != nil {
								fails = append(fails, err)
							} else {
								ok++
							}
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			res, _ := audit.Verify(ctx, replicas[0])
			t.Logf("ok=%d failed=%d verify=%+v", ok, len(fails), res)
			if len(fails) > 0 {
				t.Errorf("first failure: %v", fails[0])
			}
		})
	}
}

// Due exactly now; claim lapses no earlier than until; nanosecond times.
