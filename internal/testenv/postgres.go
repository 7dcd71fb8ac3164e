// Package testenv starts real services for tests and benchmarks: a
// throwaway PostgreSQL cluster on loopback, in a temporary directory, on a
// free port.
//
// Tests call StartPostgres(t); a missing server binary skips the test
// unless STINT_REQUIRE_SERVICES is set (as `make test` and CI do), in which
// case it fails. Programs (benchmarks) call StartPostgresProcess.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvRequireServices, when set to anything, turns a missing service into a
// test failure instead of a skip.
const EnvRequireServices = "STINT_REQUIRE_SERVICES"

// ErrNoPostgres is returned by StartPostgresProcess when no PostgreSQL server
// binaries are installed under /usr/lib/postgresql/*/bin.
var ErrNoPostgres = errors.New("testenv: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin; install the postgresql package")

// Postgres is a running throwaway PostgreSQL cluster. The superuser
// `postgres` connects without a password over TCP on 127.0.0.1 and over the
// unix socket in SocketDir; every other role must use scram-sha-256 over TCP.
type Postgres struct {
	Host      string // always 127.0.0.1
	Port      int
	Dir       string // the temporary directory holding everything below
	DataDir   string
	SocketDir string
	LogFile   string // the server's log (stderr of the postmaster)

	bin    string // directory of initdb and pg_ctl
	asUser bool   // run the binaries as the postgres user (we are root)
}

// AdminDSN returns the URL of the postgres superuser on the postgres database.
func (p *Postgres) AdminDSN() string { return p.DSN("postgres") }

// DSN returns the URL of the postgres superuser on database db.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", p.Host, p.Port, db)
}

// CreateDatabase creates database name, failing tb on error.
func (p *Postgres) CreateDatabase(tb testing.TB, name string) {
	tb.Helper()
	p.Exec(tb, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// Exec runs sql (one or more statements, simple protocol) as the superuser
// on the postgres database, failing tb on error.
func (p *Postgres) Exec(tb testing.TB, sql string) {
	tb.Helper()
	if err := p.ExecDB(context.Background(), "postgres", sql); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// ExecDB runs sql (one or more statements, simple protocol) as the
// superuser on database db.
func (p *Postgres) ExecDB(ctx context.Context, db, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", db, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("exec %q: %w", firstLine(sql), err)
	}
	return nil
}

// ServerLog returns the server's log so far.
func (p *Postgres) ServerLog() (string, error) {
	b, err := os.ReadFile(p.LogFile)
	return string(b), err
}

// StartPostgres starts a throwaway cluster for tb and stops it (immediate
// mode) and removes its directory in tb.Cleanup. Without server binaries it
// skips tb, or fails it when STINT_REQUIRE_SERVICES is set.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	p, stop, err := StartPostgresProcess("")
	if errors.Is(err, ErrNoPostgres) && os.Getenv(EnvRequireServices) == "" {
		tb.Skip(err.Error())
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return p
}

// StartPostgresProcess starts a throwaway cluster in dir (a new temporary
// directory when dir is empty) and returns it with a stop function that
// stops the server and removes the directory if it made it. Returns
// ErrNoPostgres when the binaries are not installed.
func StartPostgresProcess(dir string) (*Postgres, func(), error) {
	bin, err := findBin()
	if err != nil {
		return nil, nil, err
	}
	made := false
	if dir == "" {
		// Not under $HOME (/root is 0700): the postgres user must traverse it.
		if dir, err = os.MkdirTemp("/tmp", "stint-pg-"); err != nil {
			return nil, nil, fmt.Errorf("testenv: %w", err)
		}
		made = true
	}
	cleanupDir := func() {
		if made {
			os.RemoveAll(dir)
		}
	}
	p := &Postgres{
		Host: "127.0.0.1", Dir: dir, DataDir: filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "sock"), LogFile: filepath.Join(dir, "server.log"),
		bin: bin, asUser: os.Geteuid() == 0,
	}
	if err := p.prepare(); err != nil {
		cleanupDir()
		return nil, nil, err
	}
	// A free port may be taken between finding and binding it: try a few.
	for attempt := 0; ; attempt++ {
		if p.Port, err = freePort(); err != nil {
			cleanupDir()
			return nil, nil, err
		}
		if err = p.start(); err == nil {
			break
		}
		if attempt == 2 {
			cleanupDir()
			return nil, nil, err
		}
	}
	stop := func() {
		p.run("pg_ctl", "stop", "-D", p.DataDir, "-m", "immediate", "-w")
		cleanupDir()
	}
	return p, stop, nil
}

// findBin returns the newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// prepare makes the directories and runs initdb with the access rules.
func (p *Postgres) prepare() error {
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	if err := os.MkdirAll(p.SocketDir, 0o755); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	if p.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("testenv: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, path := range []string{p.Dir, p.SocketDir} {
			if err := os.Chown(path, uid, gid); err != nil {
				return fmt.Errorf("testenv: %w", err)
			}
		}
	}
	if out, err := p.run("initdb", "-D", p.DataDir, "--no-sync", "-A", "trust",
		"-U", "postgres", "-E", "UTF8", "--no-locale"); err != nil {
		return fmt.Errorf("testenv: initdb: %w\n%s", err, out)
	}
	hba := "# written by testenv: only the superuser is trusted\n" +
		"local all postgres trust\n" +
		"host  all postgres 127.0.0.1/32 trust\n" +
		"host  all all      127.0.0.1/32 scram-sha-256\n"
	if err := p.writeAsOwner(filepath.Join(p.DataDir, "pg_hba.conf"), hba, false); err != nil {
		return err
	}
	return nil
}

// start writes the port into the configuration and starts the server.
func (p *Postgres) start() error {
	conf := fmt.Sprintf("\n# testenv\nlisten_addresses = '127.0.0.1'\nport = %d\n"+
		"unix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\n"+
		"full_page_writes = off\npassword_encryption = 'scram-sha-256'\n"+
		"max_connections = 300\nshared_buffers = 64MB\n", p.Port, p.SocketDir)
	if err := p.writeAsOwner(filepath.Join(p.DataDir, "postgresql.auto.conf"), conf, false); err != nil {
		return err
	}
	out, err := p.run("pg_ctl", "start", "-D", p.DataDir, "-l", p.LogFile, "-w", "-t", "60", "-s")
	if err != nil {
		log, _ := os.ReadFile(p.LogFile)
		return fmt.Errorf("testenv: pg_ctl start: %w\n%s\n%s", err, out, tail(string(log), 2000))
	}
	return nil
}

// writeAsOwner writes a file in the data directory, owned by the user the
// server runs as.
func (p *Postgres) writeAsOwner(path, content string, appendTo bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	if p.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("testenv: %w", err)
		}
	}
	return nil
}

// run runs a server binary, as the postgres user when we are root.
func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if p.asUser {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = p.Dir
	// The log file must be writable by the server's user: create it first.
	if name == "pg_ctl" && len(args) > 0 && args[0] == "start" {
		if err := p.writeAsOwner(p.LogFile, "", true); err != nil {
			return nil, err
		}
	}
	return cmd.CombinedOutput()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
