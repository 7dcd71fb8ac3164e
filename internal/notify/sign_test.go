package notify_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/notify"
)

func TestVerifySignature(t *testing.T) {
	now := t0
	body := []byte(`{"event":"approval.requested"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := notify.Sign(testSecret, ts, body)
	for _, tc := range []struct {
		name            string
		secret, ts, sig string
		body            []byte
		now             time.Time
		tolerance       time.Duration
		ok              bool
	}{
		{name: "Valid", secret: testSecret, ts: ts, sig: good, body: body, now: now, ok: true},
		{name: "ValidWithinTolerance", secret: testSecret, ts: ts, sig: good, body: body, now: now.Add(4 * time.Minute), ok: true},
		{name: "WrongSecret", secret: "other", ts: ts, sig: good, body: body, now: now},
		{name: "Forged", secret: testSecret, ts: ts, sig: notify.Sign("guess", ts, body), body: body, now: now},
		{name: "TamperedBody", secret: testSecret, ts: ts, sig: good, body: []byte(`{"event":"grant.break_glass"}`), now: now},
		{name: "TimestampNotSigned", secret: testSecret, ts: strconv.FormatInt(now.Unix()+1, 10), sig: good, body: body, now: now},
		{name: "Stale", secret: testSecret, ts: ts, sig: good, body: body, now: now.Add(6 * time.Minute)},
		{name: "Future", secret: testSecret, ts: ts, sig: good, body: body, now: now.Add(-6 * time.Minute)},
		{name: "StaleForTolerance", secret: testSecret, ts: ts, sig: good, body: body, now: now.Add(2 * time.Minute), tolerance: time.Minute},
		{name: "MissingSignature", secret: testSecret, ts: ts, body: body, now: now},
		{name: "MissingTimestamp", secret: testSecret, sig: good, body: body, now: now},
		{name: "MalformedTimestamp", secret: testSecret, ts: "yesterday", sig: good, body: body, now: now},
		{name: "NoPrefix", secret: testSecret, ts: ts, sig: strings.TrimPrefix(good, "sha256="), body: body, now: now},
		{name: "NotHex", secret: testSecret, ts: ts, sig: "sha256=zz", body: body, now: now},
		{name: "NoSecret", ts: ts, sig: notify.Sign("", ts, body), body: body, now: now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.VerifySignature(tc.secret, tc.ts, tc.body, tc.sig, tc.now, tc.tolerance)
			if tc.ok && err != nil {
				t.Errorf("err = %v, want nil", err)
			} else if !tc.ok && stint.ErrorCode(err) != stint.EUNAUTHORIZED {
				t.Errorf("err = %v, want EUNAUTHORIZED", err)
			}
			if err != nil && tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestSign(t *testing.T) {
	// HMAC-SHA256("key", "1700000000.{}"), computed independently:
	// printf '1700000000.{}' | openssl dgst -sha256 -hmac key
	got := notify.Sign("key", "1700000000", []byte("{}"))
	if !regexp.MustCompile(`^sha256=[0-9a-f]{64}$`).MatchString(got) {
		t.Fatalf("Sign = %q", got)
	}
	if want := "sha256=" + opensslHMAC; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestTarget_Key(t *testing.T) {
	a := notify.Target{URL: "https://hooks.slack.com" + secretPath, Format: notify.FormatSlack, Secret: testSecret}
	b := a
	b.Format = notify.FormatJSON
	c := a
	c.Secret, c.On = "other", []string{"grant.expired"}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(a.Key()) {
		t.Errorf("Key = %q, want 12 hex digits", a.Key())
	}
	if a.Key() == b.Key() {
		t.Errorf("format does not change the key")
	}
	if a.Key() != c.Key() {
		t.Errorf("secret or events change the key: the cursor would be lost")
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprint([]notify.Target{a})} {
		if strings.Contains(s, secretPath) || strings.Contains(s, testSecret) || !strings.Contains(s, a.Key()) {
			t.Errorf("printed target %q", s)
		}
	}
}

// TestDispatcher_Logs checks that a target's URL and secret never reach the
// logs, through failures of every kind.
func TestDispatcher_Logs(t *testing.T) {
	e := newEnv(t)
	r := newReceiver(t, e.clock, testSecret)
	target := notify.Target{URL: r.url(), Format: notify.FormatJSON, Secret: testSecret}
	d, _ := e.start(target)
	r.answer(http.StatusServiceUnavailable, http.StatusBadRequest)
	e.requestPending("svc/ci", 1)
	d.Notify()
	r.next(e.ctx)
	if err := e.clock.WaitForDeadline(e.ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	r.next(e.ctx)
	e.waitCursor(target.Key(), e.head())

	// Receiver down: a transport error.
	r.srv.Close()
	e.requestPending("svc/ci", 1)
	d.Notify()
	if err := e.clock.WaitForDeadline(e.ctx, e.clock.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// An invalid URL, whose parse error would quote it.
	bad := notify.Target{URL: "http://bad host" + secretPath, Format: notify.FormatJSON, Secret: testSecret}
	timers := e.clock.Timers()
	d.SetTargets([]notify.Target{target, bad})
	if err := e.clock.WaitForTimers(e.ctx, timers+1); err != nil {
		t.Fatal(err)
	}
	e.requestPending("svc/ci", 1)
	d.Notify()
	e.waitCursor(bad.Key(), e.head())

	logs := e.logs.String()
	for _, s := range []string{"notification failed; will retry", "notification given up", "connection refused", "invalid target URL", target.Key()} {
		if !strings.Contains(logs, s) {
			t.Errorf("logs lack %q:\n%s", s, logs)
		}
	}
	for _, s := range []string{secretPath, testSecret, "bad host", r.srv.URL} {
		if strings.Contains(logs, s) {
			t.Errorf("logs show %q:\n%s", s, logs)
		}
	}
	c, err := e.store.NotifyCursor(e.ctx, target.Key())
	if err != nil {
		t.Fatal(err)
	}
	if c.LastError == "" || strings.Contains(c.LastError, secretPath) || strings.Contains(c.LastError, r.srv.URL) {
		t.Errorf("stored error %q", c.LastError)
	}
}

const opensslHMAC = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
