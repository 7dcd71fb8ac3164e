package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stint-io/stint"
)

// DefaultReconcileInterval is the default Reconciler.Interval.
const DefaultReconcileInterval = 5 * time.Minute

// Reconciler removes provider artefacts that no live grant owns: artefacts
// whose grant does not exist or has ended. Grants in issuing or revoking
// carry a DueAt and are left to the Engine (through the Handler).
type Reconciler struct {
	// Interval is the time between sweeps.
	Interval time.Duration

	store     stint.Store
	providers func() map[string]stint.Provider
	clock     stint.Clock
	logger    *slog.Logger
}

// NewReconciler returns a reconciler over store. providers returns the
// current providers by resource name; it is called at each sweep so that a
// configuration reload is seen. A nil clock is the system clock; the
// logger is used as given (nil discards).
func NewReconciler(store stint.Store, providers func() map[string]stint.Provider, clock stint.Clock, logger *slog.Logger) *Reconciler {
	if clock == nil {
		clock = stint.SystemClock
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{
		Interval:  DefaultReconcileInterval,
		store:     store,
		providers: providers,
		clock:     clock,
		logger:    logger,
	}
}

// Run sweeps at once and then every Interval until ctx ends, then returns
// nil. Failed sweeps are logged and tried again at the next interval.
func (r *Reconciler) Run(ctx context.Context) error {
	interval := orDefault(r.Interval, DefaultReconcileInterval)
	timer := r.clock.NewTimer(interval)
	defer timer.Stop()
	for {
		if err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("reconciler: sweep incomplete", logKeyError, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
		}
		timer.Reset(interval)
	}
}

// RunOnce sweeps every provider that implements stint.Lister once: each
// grant id it lists that has no grant in the store, or whose grant is in a
// terminal state, has its artefacts removed (Lister.RemoveOrphan) and an
// orphan.removed audit record appended. Artefacts in a provider's reserved
// namespace whose names are not grant ids can belong to no grant and are
// removed too. It goes on past failures and returns them joined
// in an EUNAVAILABLE error (nil if all went well).
func (r *Reconciler) RunOnce(ctx context.Context) error {
	var errs []error
	provs := r.providers()
	for _, name := range stint.SortedKeys(provs) {
		l, ok := provs[name].(stint.Lister)
		if !ok {
			continue
		}
		if err := r.sweep(ctx, name, l); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) > 0 {
		return &stint.Error{Code: stint.EUNAVAILABLE, Message: "orphan sweep incomplete", Err: errors.Join(errs...)}
	}
	return nil
}

// sweep reconciles one provider's artefacts.
func (r *Reconciler) sweep(ctx context.Context, name string, l stint.Lister) error {
	log := r.logger.With(logKeyResource, name)
	ids, err := l.List(ctx)
	if err != nil {
		return fmt.Errorf("%s: list: %w", name, err)
	}
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !stint.ValidID(id) {
			// The provider's reserved namespace holds something that no
			// grant can own: it is removed like any orphan.
			if err := r.remove(ctx, name, l, id, nil); err != nil {
				log.Error("reconciler: removing a foreign artefact failed", logKeyID, id, logKeyError, err)
				errs = append(errs, err)
			}
			continue
		}
		g, err := r.store.GetGrant(ctx, id)
		switch {
		case stint.ErrorCode(err) == stint.ENOTFOUND:
			g = nil
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: grant %s: %w", name, id, err))
			continue
		case !g.State.Terminal():
			continue // live, or in issuing/revoking: the engine's
		}
		if err := r.remove(ctx, name, l, id, g); err != nil {
			log.Error("reconciler: removing an orphan failed", logKeyGrant, id, logKeyError, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remove removes the artefacts of id (whose grant g is nil or ended) and
// records it.
func (r *Reconciler) remove(ctx context.Context, name string, l stint.Lister, id string, g *stint.Grant) error {
	if err := l.RemoveOrphan(ctx, id); err != nil {
		return fmt.Errorf("%s: remove orphan %s: %w", name, id, err)
	}
	rec := &stint.AuditRecord{
		Time:    r.clock.Now(),
		Type:    stint.AuditOrphanRemoved,
		Actor:   stint.ActorStint,
		Reason:  "no grant",
		Details: map[string]any{"resource": name, "artefact": id},
	}
	if stint.ValidID(id) {
		rec.GrantID = id
	}
	if g != nil {
		rec.Access = g.Access
		rec.Reason = "grant " + string(g.State)
		rec.Details["grant_state"] = string(g.State)
	}
	if err := r.store.AppendAudit(ctx, rec); err != nil {
		return fmt.Errorf("%s: audit orphan %s: %w", name, id, err)
	}
	r.logger.Info("reconciler: removed orphaned artefacts", logKeyResource, name, logKeyGrant, id, logKeyReason, rec.Reason)
	return nil
}
