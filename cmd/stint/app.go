package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/authn"
	"github.com/stint-io/stint/internal/broker"
	"github.com/stint-io/stint/internal/config"
	"github.com/stint-io/stint/internal/expiry"
	"github.com/stint-io/stint/internal/httpapi"
	"github.com/stint-io/stint/internal/notify"
	"github.com/stint-io/stint/internal/report"
	"github.com/stint-io/stint/provider/token"
	"github.com/stint-io/stint/store/postgres"
	"github.com/stint-io/stint/store/sqlite"
)

// App is a running broker: configuration, store, broker, expiry engine,
// reconciler and HTTP server, wired together. Open it, then Run it.
type App struct {
	ConfigPath string
	DataDir    string
	Logger     *slog.Logger
	Clock      stint.Clock
	// Listener, when set, is used instead of listening on server.listen.
	Listener net.Listener

	factories map[string]stint.ProviderFactory
	tokens    *token.Factory

	mu       sync.Mutex // serialises reloads
	cfg      atomic.Pointer[config.Config]
	auth     atomic.Pointer[authn.Chain]
	store    stint.Store
	broker   *broker.Service
	engine   *expiry.Engine
	reconc   *expiry.Reconciler
	notifier *notify.Dispatcher
	// windowWake wakes the window watcher after events arrive.
	windowWake chan struct{}
	registry   *prometheus.Registry
	server     *http.Server
	ready      atomic.Bool
}

// NewApp returns an App for the configuration file at path.
func NewApp(path string, logger *slog.Logger) *App {
	f, tok := builtinProviders()
	return &App{ConfigPath: path, Logger: logger, Clock: stint.SystemClock, factories: f, tokens: tok, windowWake: make(chan struct{}, 1)}
}

// Addr returns the address the HTTP server listens on.
func (a *App) Addr() string { return a.Listener.Addr().String() }

// Config returns the configuration in force.
func (a *App) Config() *config.Config { return a.cfg.Load() }

func (a *App) loadConfig() (*config.Config, error) {
	return config.Load(a.ConfigPath, a.factories, config.Options{DataDir: a.DataDir, Clock: a.Clock, Logger: a.Logger})
}

// Open loads the configuration, opens the store, builds the providers and
// starts listening. Nothing is served until Run.
func (a *App) Open(ctx context.Context) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return withCode(exitUsage, err)
	}
	if a.DataDir == "" {
		a.DataDir = defaultDataDir(cfg.Storage)
	}
	if err := os.MkdirAll(a.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	a.store, err = openStore(ctx, cfg.Storage, a.Clock, a.Logger)
	if err != nil {
		return err
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ns, ok := a.store.(notify.Store)
	if !ok {
		a.store.Close()
		return errors.New("storage: this store cannot keep notification cursors")
	}
	a.notifier = notify.NewDispatcher(ns, nil, cfg.Server.URL, a.Clock, a.Logger.With("component", "notify"))
	a.notifier.Metrics = notify.NewMetrics(a.registry)
	// Every write that appends audit records wakes the notifier; its poll
	// covers writes by other replicas.
	raw := a.store
	a.store = &notifyingStore{Store: a.store, notify: a.notifier.Notify}

	a.broker = broker.New(a.store, a.Clock, a.Logger.With("component", "broker"))
	a.broker.Metrics = broker.NewMetrics(a.registry, a.store)
	a.engine = expiry.NewEngine(a.store, a.broker, a.Clock, a.Logger.With("component", "expiry"))
	a.engine.Metrics = newExpiryMetrics(a.registry)
	a.broker.Wake = a.engine.Notify
	a.reconc = expiry.NewReconciler(a.store, a.providers, a.Clock, a.Logger.With("component", "reconciler"))

	if err := a.install(ctx, cfg); err != nil {
		a.store.Close()
		return err
	}
	if a.Listener == nil {
		if a.Listener, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			a.store.Close()
			return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
		}
	}
	api := &httpapi.Server{
		Grants:     a.broker,
		Audit:      a.broker,
		Policy:     a.broker,
		Auth:       authenticator{a},
		Logger:     a.Logger.With("component", "http"),
		Registry:   a.registry,
		Clock:      a.Clock,
		Ready:      a.readyCheck,
		JWKS:       a.tokens.JWKS,
		Introspect: a.introspect,
	}
	mountDiscover(api, a.broker)
	a.mountSSH(api)
	// The report reads the store directly: it writes nothing, and the
	// store's own aggregate queries are its fast path.
	mountReport(api, &report.Service{Store: raw, Clock: a.Clock})
	a.mountWindows(api)
	a.server = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // covers a slow provider's issue timeout
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// install builds the providers of cfg and makes cfg the configuration in
// force. On error the previous configuration stays.
func (a *App) install(ctx context.Context, cfg *config.Config) error {
	auth, err := a.authenticators(ctx, cfg)
	if err != nil {
		return withCode(exitUsage, err)
	}
	rt := &broker.Runtime{Policy: cfg.Policy, Resources: map[string]*broker.Resource{}, LookupPrincipal: lookupPrincipal(cfg)}
	if es, ok := a.store.(stint.EventStore); ok {
		rt.Windows = broker.NewWindows(cfg.Policy, es)
	}
	for _, name := range cfg.ResourceOrder {
		r := cfg.Resources[name]
		spec := r.Spec
		if spec.DataDir == "" {
			spec.DataDir = a.DataDir
		}
		p, err := a.factories[r.Type].New(ctx, spec)
		if err != nil {
			closeProviders(rt)
			return fmt.Errorf("resource %s: %w", name, err)
		}
		roles := map[string]bool{}
		for _, role := range r.Roles {
			roles[role] = true
		}
		rt.Resources[name] = &broker.Resource{Name: name, Type: r.Type, Roles: roles, Provider: p}
	}
	targets := make([]notify.Target, 0, len(cfg.Notify))
	for _, t := range cfg.Notify {
		targets = append(targets, notify.Target{URL: string(t.URL), Format: t.Format, Secret: string(t.Secret), On: t.On})
		if t.Wants(stint.NotifyGrantExpiring) {
			rt.ExpiringLead = DefaultExpiringLead
		}
	}
	old := a.broker.Runtime()
	a.broker.SetRuntime(rt)
	a.notifier.SetTargets(targets)
	a.auth.Store(&auth)
	a.cfg.Store(cfg)
	if old != nil {
		// Requests still running on the old providers finish first: close
		// them once an issue and a revocation could have completed.
		time.AfterFunc(broker.DefaultIssueTimeout+broker.DefaultRevokeTimeout, func() { closeProviders(old) })
	}
	sum := fileDigest(cfg.File)
	rec := &stint.AuditRecord{Time: a.Clock.Now(), Type: stint.AuditConfigLoaded, Actor: stint.ActorStint,
		Details: map[string]any{"file": cfg.File, "sha256": sum, "policies": len(cfg.Policy.Policies()), "resources": len(cfg.Resources)}}
	if err := a.store.AppendAudit(ctx, rec); err != nil {
		a.Logger.Error("audit config load", "err", err)
	}
	a.Logger.Info("configuration loaded", "file", cfg.File, "sha256", sum, "resources", len(cfg.Resources), "policies", len(cfg.Policy.Policies()))
	return nil
}

// Reload re-reads the configuration file. A file with errors is refused and
// the configuration in force stays.
func (a *App) Reload(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, err := a.loadConfig()
	if err == nil {
		err = a.install(ctx, cfg)
	}
	if err != nil {
		a.Logger.Error("configuration reload refused; keeping the previous configuration", "err", err)
		rec := &stint.AuditRecord{Time: a.Clock.Now(), Type: stint.AuditConfigRejected, Actor: stint.ActorStint,
			Reason: "reload refused", Details: map[string]any{"file": a.ConfigPath, "errors": err.Error()}}
		if aerr := a.store.AppendAudit(ctx, rec); aerr != nil {
			a.Logger.Error("audit config rejection", "err", aerr)
		}
	}
	return err
}

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	wg.Add(4)
	go func() { defer wg.Done(); errc <- nonCancel(a.broker.RunWindows(ctx, time.Second, a.windowWake)) }()
	go func() { defer wg.Done(); errc <- nonCancel(a.notifier.Run(ctx)) }()
	go func() { defer wg.Done(); errc <- nonCancel(a.engine.Run(ctx)) }()
	go func() { defer wg.Done(); errc <- nonCancel(a.reconc.Run(ctx)) }()
	go func() {
		cfg := a.cfg.Load()
		var err error
		if cfg.Server.TLSCert != "" {
			err = a.server.ServeTLS(a.Listener, cfg.Server.TLSCert, cfg.Server.TLSKey)
		} else {
			err = a.server.Serve(a.Listener)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			cancel()
		}
	}()
	a.ready.Store(true)
	a.Logger.Info("stint serving", "addr", a.Addr())

	<-ctx.Done()
	a.ready.Store(false)
	a.Logger.Info("shutting down")
	// In-flight requests may be waiting on a provider's issue timeout.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), broker.DefaultIssueTimeout+5*time.Second)
	defer scancel()
	err := a.server.Shutdown(sctx)
	wg.Wait()
	close(errc)
	for e := range errc {
		err = errors.Join(err, e)
	}
	if rt := a.broker.Runtime(); rt != nil {
		closeProviders(rt)
	}
	return errors.Join(err, a.store.Close())
}

func nonCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *App) readyCheck(ctx context.Context) error {
	if !a.ready.Load() {
		return errors.New("starting or stopping")
	}
	_, _, err := a.store.NextDue(ctx)
	return err
}

// providers returns the providers in force, by resource, for the reconciler.
func (a *App) providers() map[string]stint.Provider {
	m := map[string]stint.Provider{}
	if rt := a.broker.Runtime(); rt != nil {
		for name, r := range rt.Resources {
			m[name] = r.Provider
		}
	}
	return m
}

// introspect answers RFC 7662 for Stint-issued tokens: claims while the
// signature, issuer and times check out and the grant is still active; nil
// (inactive) otherwise.
func (a *App) introspect(ctx context.Context, tok string) (map[string]any, error) {
	claims, err := a.tokens.Verify(tok)
	if err != nil {
		return nil, nil // inactive
	}
	g, err := a.store.GetGrant(ctx, claims.Jti)
	if err != nil {
		if stint.ErrorCode(err) == stint.ENOTFOUND {
			return nil, nil // inactive
		}
		return nil, err
	}
	if g.State != stint.StateActive || g.ExpiresAt == nil || !a.Clock.Now().Before(*g.ExpiresAt) {
		return nil, nil // inactive
	}
	return map[string]any{
		"active": true, "token_type": "Bearer", "iss": claims.Issuer, "sub": claims.Subject,
		"aud": claims.Audience, "scope": claims.Scope, "jti": claims.Jti,
		"iat": claims.IssuedAt.Unix(), "nbf": claims.NotBefore.Unix(), "exp": claims.Expiry.Unix(),
	}, nil
}

type authenticator struct{ a *App }

func (x authenticator) Authenticate(ctx context.Context, bearer string) (*stint.Principal, error) {
	return x.a.auth.Load().Authenticate(ctx, bearer)
}

func staticTokens(cfg *config.Config) []authn.Token {
	ts := make([]authn.Token, 0, len(cfg.Auth.Tokens))
	for _, t := range cfg.Auth.Tokens {
		ts = append(ts, authn.Token{Subject: t.Subject, Kind: t.Kind, Groups: t.Groups, SHA256: t.SHA256})
	}
	return ts
}

func lookupPrincipal(cfg *config.Config) func(string) *stint.Principal {
	return func(name string) *stint.Principal {
		for _, t := range cfg.Auth.Tokens {
			if t.Subject == name {
				p := &stint.Principal{Name: t.Subject, Kind: t.Kind, Issuer: "static", Groups: t.Groups}
				p.Admin = cfg.IsAdmin(p)
				return p
			}
		}
		return nil
	}
}

func closeProviders(rt *broker.Runtime) {
	for _, r := range rt.Resources {
		if c, ok := r.Provider.(io.Closer); ok {
			c.Close()
		}
	}
}

// openStore opens the store named by a storage URL.
func openStore(ctx context.Context, storage string, clock stint.Clock, logger *slog.Logger) (stint.Store, error) {
	switch {
	case strings.HasPrefix(storage, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(storage, "sqlite:"), "//")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("storage directory: %w", err)
		}
		return sqlite.Open(ctx, path, clock, logger.With("component", "store"))
	case strings.HasPrefix(storage, "postgres://"), strings.HasPrefix(storage, "postgresql://"):
		return postgres.Open(ctx, storage, clock, logger.With("component", "store"))
	}
	// Never echo the value: it may be a DSN with a password.
	return nil, withCode(exitUsage, errors.New("storage: must start with sqlite: or postgres://"))
}

// defaultDataDir is where keys live when no --data-dir is given: beside the
// SQLite database.
func defaultDataDir(storage string) string {
	if p, ok := strings.CutPrefix(storage, "sqlite:"); ok {
		return filepath.Dir(strings.TrimPrefix(p, "//"))
	}
	return "."
}

func fileDigest(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// DefaultExpiringLead is how long before expiry a grant.expiring
// notification goes out, when a notify target wants it.
const DefaultExpiringLead = 5 * time.Minute

// notifyingStore wakes the notification dispatcher after every write that
// may have appended audit records.
type notifyingStore struct {
	stint.Store
	notify func()
}

func (s *notifyingStore) CreateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	err := s.Store.CreateGrant(ctx, g, rec)
	s.notify()
	return err
}

func (s *notifyingStore) UpdateGrants(ctx context.Context, ups []stint.GrantUpdate) ([]error, error) {
	errs, err := s.Store.UpdateGrants(ctx, ups)
	s.notify()
	return errs, err
}

func (s *notifyingStore) UpdateGrant(ctx context.Context, g *stint.Grant, rec *stint.AuditRecord) error {
	err := s.Store.UpdateGrant(ctx, g, rec)
	s.notify()
	return err
}

func (s *notifyingStore) AppendAudit(ctx context.Context, recs ...*stint.AuditRecord) error {
	err := s.Store.AppendAudit(ctx, recs...)
	s.notify()
	return err
}

// SaveDiscovery and ListDiscoveries pass stint.DiscoveryStore through.
func (s *notifyingStore) SaveDiscovery(ctx context.Context, run *stint.DiscoveryRun, rec *stint.AuditRecord) error {
	ds, ok := s.Store.(stint.DiscoveryStore)
	if !ok {
		return stint.Errorf(stint.EUNAVAILABLE, "this store cannot keep discovery results")
	}
	err := ds.SaveDiscovery(ctx, run, rec)
	s.notify()
	return err
}

func (s *notifyingStore) ListDiscoveries(ctx context.Context, resource string, limit int) ([]*stint.DiscoveryRun, error) {
	ds, ok := s.Store.(stint.DiscoveryStore)
	if !ok {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "this store cannot keep discovery results")
	}
	return ds.ListDiscoveries(ctx, resource, limit)
}

// AppendEvent and ListEvents pass stint.EventStore through.
func (s *notifyingStore) AppendEvent(ctx context.Context, ev *stint.Event, rec *stint.AuditRecord) (bool, error) {
	es, ok := s.Store.(stint.EventStore)
	if !ok {
		return false, stint.Errorf(stint.EUNAVAILABLE, "this store cannot keep events")
	}
	dup, err := es.AppendEvent(ctx, ev, rec)
	s.notify()
	return dup, err
}

func (s *notifyingStore) ListEvents(ctx context.Context, since time.Time) ([]*stint.Event, error) {
	es, ok := s.Store.(stint.EventStore)
	if !ok {
		return nil, stint.Errorf(stint.EUNAVAILABLE, "this store cannot keep events")
	}
	return es.ListEvents(ctx, since)
}

// authenticators builds the chain that turns a bearer token into a
// principal: static tokens first (cheap, and an OIDC token never matches
// one), then workload identity federation with the configured OIDC issuers.
func (a *App) authenticators(ctx context.Context, cfg *config.Config) (authn.Chain, error) {
	static, err := authn.NewStatic(staticTokens(cfg), cfg.Auth.Admins)
	if err != nil {
		return nil, err
	}
	chain := authn.Chain{static}
	if len(cfg.Auth.OIDC) == 0 {
		return chain, nil
	}
	issuers := make([]authn.OIDCIssuer, 0, len(cfg.Auth.OIDC))
	for _, c := range cfg.Auth.OIDC {
		issuers = append(issuers, authn.OIDCIssuer{Name: c.Name, Issuer: c.Issuer, Audience: c.Audience, Kind: c.Kind, Subject: c.SubjectExpr})
	}
	o, err := authn.NewOIDC(ctx, issuers, cfg.Auth.Admins, a.Clock)
	if err != nil {
		return nil, err
	}
	o.Logger = a.Logger.With("component", "oidc")
	return append(chain, o), nil
}
