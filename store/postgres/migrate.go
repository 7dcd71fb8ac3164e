package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stint-io/stint/store/migration"
)

// migrations are numbered SQL files, NNNN_name.sql, applied in order and
// recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the transaction-level advisory lock that
// serialises migrations between replicas ("stint" in ASCII).
const migrationLock int64 = 0x7374696e74

func loadMigrations() ([]migration.Migration, error) { return migration.Load(migrations, "migrations") }

// migrate applies the migrations the database lacks, all in one
// transaction holding an advisory lock: a replica starting at the same time
// waits, then finds them applied. It is idempotent.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return internal("postgres: load migrations", err)
	}
	var applied []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range have {
			done[int(v)] = true
		}
		for _, m := range ms {
			if done[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.clock.Now()); err != nil {
				return err
			}
			applied = append(applied, m.Name)
		}
		return nil
	})
	if err != nil {
		return unavailable("postgres: migrate", err)
	}
	for _, n := range applied {
		s.logger.Info("postgres migration applied", logKeyVersion, n)
	}
	return nil
}
