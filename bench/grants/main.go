// Command grants measures the grant path of a real `stint server`:
// request→active latency and throughput over HTTP with the token provider,
// start-up time and resident memory with 1,000,000 active grants in the
// store, and how fast 10,000 grants falling due in the same second expire.
// It prints its figures; it asserts nothing. Run it with `make bench`.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/client"
	_ "modernc.org/sqlite"
)

var (
	flagSeq     = flag.Int("sequential", 1000, "sequential requests for latency")
	flagConc    = flag.Int("requests", 20000, "requests in the concurrent run")
	flagClients = flag.Int("clients", 16, "concurrent clients")
	flagGrants  = flag.Int("grants", 1000000, "active grants to load for the memory and start-up figures")
	flagDue     = flag.Int("due", 10000, "grants falling due in the same second")
	flagKeep    = flag.Bool("keep", false, "keep the work directory")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

func run() error {
	dir, err := os.MkdirTemp("", "stint-bench-")
	if err != nil {
		return err
	}
	if !*flagKeep {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "stint")
	fmt.Println("building stint ...")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/stint").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	token := "stint_bench_" + randHex(16)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "stint.yaml")
	sum := sha256.Sum256([]byte(token))
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(benchConfig, addr, addr, dir, hex.EncodeToString(sum[:]))), 0o600); err != nil {
		return err
	}

	// Phase 1: request→active over HTTP.
	srv, err := start(bin, cfg, dir, addr)
	if err != nil {
		return err
	}
	c := client.New("http://"+addr, token)
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *flagClients * 2}}
	ctx := context.Background()
	req := stint.GrantRequest{AccessRequest: stint.AccessRequest{Access: "api/read", Reason: "bench"}}
	for i := 0; i < 200; i++ { // warm-up
		if _, err := c.RequestGrant(ctx, req); err != nil {
			srv.stop()
			return fmt.Errorf("warm-up request: %w", err)
		}
	}
	seq := make([]time.Duration, 0, *flagSeq)
	for i := 0; i < *flagSeq; i++ {
		t0 := time.Now()
		if _, err := c.RequestGrant(ctx, req); err != nil {
			srv.stop()
			return err
		}
		seq = append(seq, time.Since(t0))
	}
	lat, elapsed, errs := concurrent(ctx, c, req, *flagConc, *flagClients)
	srv.stop()
	fmt.Println()
	fmt.Println("== request→active, token provider, over HTTP, SQLite store ==")
	fmt.Printf("sequential (%d):          p50 %v  p99 %v\n", len(seq), pct(seq, 50), pct(seq, 99))
	fmt.Printf("%d clients (%d requests): p50 %v  p99 %v  throughput %.0f grants/s  errors %d  (target ≥ 2000/s)\n",
		*flagClients, *flagConc, pct(lat, 50), pct(lat, 99), float64(len(lat))/elapsed.Seconds(), errs)

	// Phase 2: load the store with active grants and a batch due together.
	fmt.Printf("\nloading %d active grants and %d due together ...\n", *flagGrants, *flagDue)
	dueAt := time.Now().Add(40 * time.Second).Truncate(time.Second)
	if err := load(filepath.Join(dir, "stint.db"), *flagGrants, *flagDue, dueAt); err != nil {
		return err
	}
	t0 := time.Now()
	srv, err = start(bin, cfg, dir, addr)
	if err != nil {
		return err
	}
	ready := time.Since(t0)
	rssReady := rss(srv.cmd.Process.Pid, "VmRSS")
	// A little traffic, then measure again.
	lat2, el2, _ := concurrent(ctx, c, req, 2000, *flagClients)
	rssBusy := rss(srv.cmd.Process.Pid, "VmRSS")

	// Phase 3: the batch falls due.
	db, err := sql.Open("sqlite", filepath.Join(dir, "stint.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		srv.stop()
		return err
	}
	defer db.Close()
	time.Sleep(time.Until(dueAt))
	// Requests while the engine catches up: the API must stay responsive.
	stopLoad := make(chan struct{})
	loadDone := make(chan []time.Duration)
	go func() {
		var lat []time.Duration
		for {
			select {
			case <-stopLoad:
				loadDone <- lat
				return
			default:
			}
			t0 := time.Now()
			if _, err := c.RequestGrant(ctx, req); err == nil {
				lat = append(lat, time.Since(t0))
			}
		}
	}()
	var drained time.Duration
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM grants WHERE id >= 'd' AND id < 'e' AND state = 'expired'`).Scan(&n); err != nil {
			srv.stop()
			return err
		}
		if n >= *flagDue {
			drained = time.Since(dueAt)
			break
		}
		if time.Since(dueAt) > 2*time.Minute {
			srv.stop()
			return fmt.Errorf("only %d of %d due grants expired after 2 minutes", n, *flagDue)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopLoad)
	during := <-loadDone
	peak := rss(srv.cmd.Process.Pid, "VmHWM")
	srv.stop()

	fmt.Println()
	fmt.Printf("== %d active grants in the store ==\n", *flagGrants)
	fmt.Printf("ready (process start → /readyz 200): %v  (target < 2s)\n", ready.Round(time.Millisecond))
	fmt.Printf("resident memory: %.1f MB when ready, %.1f MB after 2000 requests, %.1f MB peak incl. expiry  (target < 150 MB)\n",
		mb(rssReady), mb(rssBusy), mb(peak))
	fmt.Printf("requests with the full store: p50 %v  p99 %v  %.0f grants/s\n", pct(lat2, 50), pct(lat2, 99), float64(len(lat2))/el2.Seconds())
	fmt.Printf("%d grants due in the same second: all expired %v after the due second  (target < 3s)\n", *flagDue, drained.Round(time.Millisecond))
	fmt.Printf("requests during that catch-up (1 client): %d served, p50 %v  p99 %v\n", len(during), pct(during, 50), pct(during, 99))
	return nil
}

const benchConfig = `server:
  listen: %s
  url: http://%s
storage: sqlite:%s/stint.db
auth:
  tokens:
    - { subject: svc/bench, kind: workload, sha256: %s }
resources:
  api:
    provider: token
    roles:
      read: { audience: api, scopes: [read] }
policies:
  - name: bench
    who: principal.kind == "workload"
    access: [api/read]
    ttl: 1h
`

func start(bin, cfg, dir, addr string) (*server, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, addr: addr, log: logf}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server not ready; see %s", logf.Name())
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	s.log.Close()
}

// concurrent runs n requests from k clients and returns their latencies.
func concurrent(ctx context.Context, c *client.Client, req stint.GrantRequest, n, k int) ([]time.Duration, time.Duration, int) {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/k+1)
			bad := 0
			for range next {
				s := time.Now()
				if _, err := c.RequestGrant(ctx, req); err != nil {
					bad++
					continue
				}
				local = append(local, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, time.Since(t0), errs
}

// load copies the newest grant of the database into n active grants that
// expire in a day (ids "c…") and due grants that all expire at dueAt
// (ids "d…"), with plain SQL so that loading takes seconds.
func load(path string, n, due int, dueAt time.Time) error {
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	var cols []string
	rows, err := db.Query(`SELECT name FROM pragma_table_info('grants')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		cols = append(cols, name)
	}
	rows.Close()
	var tmpl string
	if err := db.QueryRow(`SELECT id FROM grants WHERE state = 'active' ORDER BY id DESC LIMIT 1`).Scan(&tmpl); err != nil {
		return fmt.Errorf("template grant: %w", err)
	}
	insert := func(prefix string, count int, exp int64) error {
		sel := make([]string, len(cols))
		for i, c := range cols {
			switch c {
			case "id":
				sel[i] = "printf('" + prefix + "%025d', n)"
			case "expires_at", "due_at":
				sel[i] = strconv.FormatInt(exp, 10)
			case "claimed_until":
				sel[i] = "NULL"
			default:
				sel[i] = c
			}
		}
		q := `WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < ?)
INSERT INTO grants (` + strings.Join(cols, ",") + `) SELECT ` + strings.Join(sel, ",") + ` FROM seq, grants WHERE grants.id = ?`
		_, err := db.Exec(q, count, tmpl)
		return err
	}
	if err := insert("c", n, time.Now().Add(24*time.Hour).UnixNano()); err != nil {
		return fmt.Errorf("load active grants: %w", err)
	}
	if err := insert("d", due, dueAt.UnixNano()); err != nil {
		return fmt.Errorf("load due grants: %w", err)
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)].Round(10 * time.Microsecond)
}

func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
