package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 10 * time.Second

// deliveryError is a failed delivery. Its message never holds the URL, the
// secret or the receiver's answer body.
type deliveryError struct {
	msg        string
	permanent  bool          // retrying cannot help
	retryAfter time.Duration // the receiver's Retry-After, 0 if none
}

func (e *deliveryError) Error() string { return e.msg }

// newClient returns the default HTTP client: a timeout, and no redirects
// (a webhook that redirects is misconfigured, and following it would post
// the signed body somewhere else).
func newClient() *http.Client {
	return &http.Client{
		Timeout: DefaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post sends ev to t. Returns nil on a 2xx answer, else a *deliveryError.
func (d *Dispatcher) post(ctx context.Context, t *Target, ev *Event) error {
	body, err := encode(t.Format, ev)
	if err != nil {
		return &deliveryError{msg: "cannot encode: " + err.Error(), permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		// The error quotes the URL: do not pass it on.
		return &deliveryError{msg: "invalid target URL", permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stint-notify")
	if t.Format == FormatJSON {
		ts := strconv.FormatInt(d.clock.Now().Unix(), 10)
		req.Header.Set(HeaderEvent, ev.Name)
		req.Header.Set(HeaderTimestamp, ts)
		if t.Secret != "" {
			req.Header.Set(HeaderSignature, Sign(t.Secret, ts, body))
		}
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return &deliveryError{msg: transportMessage(err)}
	}
	// Drain a little so the connection can be reused; the body is not kept:
	// receivers may echo what they were sent.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &deliveryError{msg: fmt.Sprintf("receiver answered %d", code), retryAfter: retryAfter(resp.Header.Get("Retry-After"), d.clock.Now())}
	case code >= 300 && code < 400:
		return &deliveryError{msg: fmt.Sprintf("receiver answered %d (redirects are not followed)", code), permanent: true}
	default:
		return &deliveryError{msg: fmt.Sprintf("receiver answered %d", code), permanent: true}
	}
}

// transportMessage describes a transport error without the URL, which
// *url.Error quotes.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "request timed out"
		}
		err = ue.Err
	}
	return "request failed: " + err.Error()
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
