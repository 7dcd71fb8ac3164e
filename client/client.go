// Package client is the Go SDK of the Stint HTTP API. A *Client implements
// stint.GrantService, stint.AuditService and stint.PolicyService over HTTP,
// so code written against those interfaces runs against a remote broker.
//
// Errors round-trip: an error answer becomes a *stint.Error with the
// server's code and message (stint.ErrorCode works on it). A server that
// cannot be reached is an error for which errors.Is(err, ErrUnreachable)
// holds; a cancelled or expired ctx is returned as ctx's error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stint-io/stint"
)

// DefaultAddr is the server address used when none is given.
const DefaultAddr = "http://127.0.0.1:8270"

// DefaultTimeout bounds each request of a Client made by New.
const DefaultTimeout = 30 * time.Second

// maxResponseSize bounds the answers the client reads.
const maxResponseSize = 32 << 20

// ErrUnreachable is wrapped by the error of a request that got no answer
// from the server (connection refused, DNS failure, TLS failure, timeout).
var ErrUnreachable = errors.New("stint server unreachable")

// Client talks to a Stint server. Its methods are safe for concurrent use.
type Client struct {
	// HTTPClient sends the requests; New sets one with DefaultTimeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request.
	UserAgent string

	addr  string
	token string
}

var (
	_ stint.GrantService  = (*Client)(nil)
	_ stint.AuditService  = (*Client)(nil)
	_ stint.PolicyService = (*Client)(nil)
)

// New returns a client of the server at addr (a URL such as
// "https://stint.example.com"; "" is DefaultAddr; a bare host:port is taken
// as http) that authenticates with the bearer token.
func New(addr, token string) *Client {
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{
		HTTPClient: &http.Client{Timeout: DefaultTimeout},
		UserAgent:  "stint-client",
		addr:       strings.TrimRight(addr, "/"),
		token:      token,
	}
}

// Addr returns the server's base URL.
func (c *Client) Addr() string { return c.addr }

// errorBody is the body of an error answer.
type errorBody struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Grant *stint.Grant `json:"grant"`
}

// Do sends a request with the bearer token to path (which may carry a
// query) with in as its JSON body (nil: no body), and decodes a successful
// answer into out (nil: discard it). It serves endpoints that have no
// method of their own. Errors are as described in the package comment.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.do(ctx, method, path, in, out, true)
	return err
}

// do is Do; it also returns the grant of an error answer, and sends the
// token only when auth is set.
func (c *Client) do(ctx context.Context, method, path string, in, out any, auth bool) (*stint.Grant, error) {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case url.Values:
		body, contentType = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, &stint.Error{Code: stint.EINVALID, Message: "cannot encode request", Err: err}
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return nil, &stint.Error{Code: stint.EINVALID, Message: "invalid server address or request", Err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, raw)
	}
	if out == nil {
		return nil, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, &stint.Error{Code: stint.EINTERNAL,
			Message: fmt.Sprintf("malformed answer from %s %s", method, stripQuery(path)), Err: err}
	}
	return nil, nil
}

// transportError classifies a failure to get an answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the request URL is already in the message
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, c.addr, err)
}

// decodeError turns an error answer into a *stint.Error and the grant it
// carries, if any.
func decodeError(status int, raw []byte) (*stint.Grant, error) {
	var b errorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Error == nil || b.Error.Code == "" {
		return nil, stint.Errorf(codeForStatus(status), "HTTP %d %s", status, http.StatusText(status))
	}
	return b.Grant, stint.Errorf(b.Error.Code, "%s", b.Error.Message)
}

// codeForStatus maps a status to an error code for answers without an
// error body (a proxy in between).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return stint.EINVALID
	case http.StatusUnauthorized:
		return stint.EUNAUTHORIZED
	case http.StatusForbidden:
		return stint.EDENIED
	case http.StatusNotFound:
		return stint.ENOTFOUND
	case http.StatusConflict:
		return stint.ECONFLICT
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return stint.ETIMEOUT
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return stint.EUNAVAILABLE
	}
	return stint.EINTERNAL
}

func stripQuery(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// WhoAmI returns the principal the client's token authenticates as.
// Returns EUNAUTHORIZED for a bad token.
func (c *Client) WhoAmI(ctx context.Context) (*stint.Principal, error) {
	var p stint.Principal
	if err := c.Do(ctx, http.MethodGet, "/v1/whoami", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Health checks that the server is alive (GET /healthz, no token sent).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, false)
	return err
}

// Ready checks that the server is ready to serve (GET /readyz, no token
// sent). Returns EUNAVAILABLE when it is not.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, false)
	return err
}

// Introspect asks the server whether a Stint-issued token is active
// (RFC 7662) and returns the answer: "active" and, when true, the token's
// claims.
func (c *Client) Introspect(ctx context.Context, token string) (map[string]any, error) {
	var out map[string]any
	if err := c.Do(ctx, http.MethodPost, "/v1/tokens/introspect", url.Values{"token": {token}}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
