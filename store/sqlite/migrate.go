package sqlite

import (
	"context"
	"embed"

	"github.com/stint-io/stint/store/migration"
)

// migrations are numbered SQL files, NNNN_name.sql, applied in order, each in
// its own transaction, and recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrations embed.FS

func loadMigrations() ([]migration.Migration, error) { return migration.Load(migrations, "migrations") }

// migrate applies the migrations the file lacks. It is idempotent, and safe
// against a second process migrating at the same time: each migration runs
// in an immediate transaction that rechecks whether it was applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return internal("sqlite: load migrations", err)
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return unavailable("sqlite: create schema_migrations", err)
	}
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return unavailable("sqlite: migration "+m.Name, err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration.Migration) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, s.clock.Now().UnixNano()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.logger.Info("sqlite migration applied", logKeyVersion, m.Name)
	return nil
}
