package testenv_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stint-io/stint/internal/testenv"
)

func TestStartPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "app")
	pg.Exec(t, "CREATE ROLE alice LOGIN PASSWORD 'secret-pw'")
	ctx := context.Background()

	t.Run("SuperuserTrusted", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, pg.DSN("app"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("select 1 = %d, %v", one, err)
		}
	})
	t.Run("OtherRolesNeedPassword", func(t *testing.T) {
		dsn := "postgres://alice@127.0.0.1:" + strconv.Itoa(pg.Port) + "/app?sslmode=disable"
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			conn.Close(ctx)
			t.Fatal("alice connected without a password")
		}
		dsn = "postgres://alice:secret-pw@127.0.0.1:" + strconv.Itoa(pg.Port) + "/app?sslmode=disable"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("alice with password: %v", err)
		}
		conn.Close(ctx)
	})
	t.Run("ServerLog", func(t *testing.T) {
		pg.Exec(t, "SELECT pg_catalog.pg_sleep(0)")
		if _, err := pg.ServerLog(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pg.AdminDSN(), "postgres://postgres@127.0.0.1:") {
			t.Errorf("AdminDSN = %s", pg.AdminDSN())
		}
	})
}
