package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/clocktest"
	"github.com/stint-io/stint/internal/notify"
	"github.com/stint-io/stint/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testSecret    = "s3cr3t-hmac-key"
	testServerURL = "https://stint.example.com"
	// secretPath stands for the secret part of a Slack webhook URL.
	secretPath = "/hooks/T0001/B0002/xoxsecretpath"
)

// env is a dispatcher over a real SQLite store, driven by a mock clock.
type env struct {
	t       *testing.T
	ctx     context.Context
	clock   *clocktest.Clock
	store   *sqlite.Store
	reg     *prometheus.Registry
	logs    *syncBuffer
	logger  *slog.Logger
	metrics *notify.Metrics
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	clock := clocktest.New(t0)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stint.db"), clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	return &env{
		t: t, ctx: ctx, clock: clock, store: st, reg: reg, logs: logs,
		logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		metrics: notify.NewMetrics(reg),
	}
}

// start runs a dispatcher of targets until the end of the test or until
// the returned stop is called, and waits until every target has read its
// cursor and gone idle, so records appended after start are new to it.
func (e *env) start(targets ...notify.Target) (d *notify.Dispatcher, stop func()) {
	e.t.Helper()
	d = notify.NewDispatcher(e.store, targets, testServerURL, e.clock, e.logger)
	d.Jitter = 0
	d.Metrics = e.metrics
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	armed := e.clock.Timers() // before Run, which may arm its timers at once
	go func() { done <- d.Run(ctx) }()
	halt := func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run = %v", err)
		}
	}
	var once sync.Once
	e.t.Cleanup(func() { once.Do(halt) })
	if err := e.clock.WaitForTimers(e.ctx, armed+len(targets)); err != nil {
		e.t.Fatal("dispatcher did not go idle")
	}
	return d, func() { once.Do(halt) }
}

// waitCursor waits until the cursor of key has reached seq: every record up
// to seq has been handled. Each step of a target ends by arming its timer,
// after saving the cursor.
func (e *env) waitCursor(key string, seq int64) {
	e.t.Helper()
	for {
		arms := e.clock.Arms()
		c, err := e.store.NotifyCursor(e.ctx, key)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.LastSeq >= seq {
			return
		}
		if err := e.clock.WaitForArms(e.ctx, arms+1); err != nil {
			e.t.Fatalf("cursor of %s stuck at %d, want %d", key, c.LastSeq, seq)
		}
	}
}

// head returns the seq of the last audit record.
func (e *env) head() int64 {
	e.t.Helper()
	recs, err := e.store.ListAudit(e.ctx, stint.AuditFilter{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Seq
}

// metric returns the value of the counter or gauge name with labels.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// message is one request a receiver got.
type message struct {
	Status    int // what the receiver answered
	Event     string
	Timestamp string
	Signature string
	VerifyErr error // of VerifySignature with the receiver's secret
	Body      []byte
	JSON      map[string]any
}

// receiver is a real HTTP webhook receiver on loopback. It answers each
// request with the next queued status (200 when none) and verifies the
// signature of each.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *clocktest.Clock
	secret string
	msgs   chan message

	mu       sync.Mutex
	statuses []int
}

func newReceiver(t *testing.T, clock *clocktest.Clock, secret string) *receiver {
	t.Helper()
	r := &receiver{t: t, clock: clock, secret: secret, msgs: make(chan message, 100)}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverAt starts a receiver on addr (a stopped receiver's address).
func newReceiverAt(t *testing.T, clock *clocktest.Clock, secret, addr string) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, clock: clock, secret: secret, msgs: make(chan message, 100)}
	r.srv = httptest.NewUnstartedServer(r)
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	m := message{
		Status:    http.StatusOK,
		Event:     req.Header.Get(notify.HeaderEvent),
		Timestamp: req.Header.Get(notify.HeaderTimestamp),
		Signature: req.Header.Get(notify.HeaderSignature),
		Body:      body,
	}
	m.VerifyErr = notify.VerifySignature(r.secret, m.Timestamp, body, m.Signature, r.clock.Now(), 0)
	if err := json.Unmarshal(body, &m.JSON); err != nil {
		r.t.Errorf("body is not JSON: %v", err)
	}
	if req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("Content-Type = %q", req.Header.Get("Content-Type"))
	}
	r.mu.Lock()
	if len(r.statuses) > 0 {
		m.Status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.mu.Unlock()
	r.msgs <- m
	if m.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "30")
	}
	w.WriteHeader(m.Status)
}

// answer queues statuses for the next requests.
func (r *receiver) answer(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, statuses...)
}

// url is the receiver's URL, with a path that stands for a secret.
func (r *receiver) url() string { return r.srv.URL + secretPath }

// next returns the next request the receiver got.
func (r *receiver) next(ctx context.Context) message {
	r.t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-ctx.Done():
		r.t.Fatal("no notification received")
		return message{}
	}
}

// none fails if the receiver got a request not yet taken.
func (r *receiver) none() {
	r.t.Helper()
	select {
	case m := <-r.msgs:
		r.t.Errorf("unexpected notification %s: %s", m.Event, m.Body)
	default:
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
