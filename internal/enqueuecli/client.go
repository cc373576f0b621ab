package enqueuecli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// generation is the part of the API's generation resource the command shows.
type generation struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	FalRequestID *string `json:"fal_request_id"`
	// FalStatus and FalQueuePosition are what fal last said of the
	// request when Easel asked (IN_QUEUE with how many requests are ahead,
	// IN_PROGRESS, ...): null until Easel has asked, as servers that never
	// ask leave them.
	FalStatus        *string    `json:"fal_status"`
	FalQueuePosition *int       `json:"fal_queue_position"`
	Error            *errorInfo `json:"error"`
	Images           []image    `json:"images"`
	// ResultSource is "poll" when Easel fetched the result from fal's
	// queue, no webhook having brought it in time, which made it late;
	// only GET /v1/generations/{id} says, and servers before it never.
	ResultSource *string `json:"result_source"`
	// raw is the resource as the API returned it, every field included,
	// which --output json prints.
	raw json.RawMessage
}

type image struct {
	URL string `json:"url"`
	// NSFW is nil when the flag is unknown (the API's null): fal sent none
	// for the image, which is no "not flagged".
	NSFW *bool `json:"nsfw"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statuses are the API's generation states; an answer with another is not
// the API's.
var statuses = []string{"queued", "submitted", "completed", "failed", "cancelled"}

func (g *generation) terminal() bool {
	return g.Status == "completed" || g.Status == "failed" || g.Status == "cancelled"
}

// APIError is an error answer of the Easel API.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"details"`
	// hint says what to do about it from this command, where the server's
	// message speaks to any HTTP client.
	hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server answered %d %s: %s", e.Status, e.Code, e.Message)
	for _, d := range e.Details {
		fmt.Fprintf(&b, "\n  %s: %s", d.Field, d.Message)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, "\n%s", e.hint)
	}
	return b.String()
}

// unauthorizedHint is what to do about a 401 with the key, if any, that
// EASEL_API_KEY gave.
func unauthorizedHint(apiKey string) string {
	if apiKey == "" {
		return "easel enqueue sends the API key in EASEL_API_KEY, which is not set: set it to the key easel keys create printed"
	}
	return "the API key in EASEL_API_KEY was refused: set EASEL_API_KEY to an active key of this server (easel keys list names them)"
}

// Is sorts the answer by what the caller can do about it: change the
// request (ErrInvalidInput: 400, 413, 422), ask again later (ErrNoAnswer:
// 408, 429, 5xx), or change something else (ErrRefused: any other 4xx,
// such as 401, 404 or 409 idempotency_conflict). A 408 is a server or proxy
// giving up on the request, which may have gone through all the same: no
// definite answer, safe to retry with the same idempotency key. A 3xx left
// unfollowed is no answer of the API's (ErrBadAnswer).
func (e *APIError) Is(target error) bool {
	invalid := e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusUnprocessableEntity
	later := e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
	switch target {
	case ErrInvalidInput:
		return invalid
	case ErrNoAnswer:
		return later
	case ErrRefused:
		return e.Status >= 400 && e.Status < 500 && !invalid && !later
	case ErrBadAnswer:
		return e.Status < 400
	}
	return false
}

// client speaks to Easel's /v1 API.
type client struct {
	base   string // without a trailing slash
	apiKey string
	http   *http.Client
	// timeout bounds one API call on top of any long-poll wait.
	timeout time.Duration
}

// DefaultRequestTimeout is Env.RequestTimeout's default.
const DefaultRequestTimeout = 30 * time.Second

// create posts input and reports whether the server created the generation
// (false: an earlier request with the same idempotency key did).
func (c *client) create(ctx context.Context, input []byte, idempotencyKey string) (*generation, bool, error) {
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/generations", bytes.NewReader(input))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	g, status, err := c.do(req, c.timeout)
	var timeout *timeoutError
	if errors.As(err, &timeout) {
		return nil, false, fmt.Errorf("enqueue: %w; %s", err, retryHint(idempotencyKey))
	}
	if err != nil {
		return nil, false, fmt.Errorf("enqueue: %w", err)
	}
	switch {
	case status == http.StatusOK && idempotencyKey == "":
		// A replay answers a request that had a key: a server that says so
		// of one without is not following the API.
		return nil, false, fmt.Errorf("enqueue: %w", badAnswer(req, fmt.Sprintf("answered 200, an earlier request's generation (%s), though this request sent no Idempotency-Key", g.ID)))
	case status != http.StatusOK && status != http.StatusAccepted:
		return nil, false, fmt.Errorf("enqueue: %w", badAnswer(req, fmt.Sprintf("answered %d where the API answers 202, or 200 for an idempotent replay", status)))
	}
	return g, status == http.StatusAccepted, nil
}

// retryHint says how to retry a request that got no answer in time, which
// the server may have carried out.
func retryHint(idempotencyKey string) string {
	if idempotencyKey != "" {
		return fmt.Sprintf("retry with --idempotency-key %q, the same key: if this request enqueued the generation, the retry returns it rather than enqueue another", idempotencyKey)
	}
	return "retry with --idempotency-key KEY to make retries safe; this request sent none, so it may have enqueued the generation already (see the gallery)"
}

// get returns the generation, long-polling for up to wait when the server
// supports it.
func (c *client) get(ctx context.Context, id string, wait time.Duration) (*generation, error) {
	path := "/v1/generations/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	g, _, err := c.do(req, wait+c.timeout)
	if err != nil {
		return nil, fmt.Errorf("get generation %s: %w", id, err)
	}
	if g.ID != id {
		return nil, fmt.Errorf("get generation %s: %w", id, badAnswer(req, fmt.Sprintf("answered with generation %q", g.ID)))
	}
	return g, nil
}

func (c *client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	return req, nil
}

// maxResponseBytes bounds a response; a generation is a few kilobytes.
const maxResponseBytes = 16 << 20

// timeoutError is a request that got no answer within its timeout: the
// server may have carried it out. It is ErrNoAnswer.
type timeoutError struct {
	req     *http.Request
	timeout time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s %s: no answer within %s", e.req.Method, e.req.URL.Redacted(), e.timeout)
}

func (e *timeoutError) Is(target error) bool { return target == ErrNoAnswer }

// do sends req, giving up after timeout, and returns the generation a 2xx
// answer holds, with the answer's status. An answer that holds no
// generation of the API's is ErrBadAnswer, not to be retried: the server is
// not Easel, or is broken, and asking again would get the same.
func (c *client) do(req *http.Request, timeout time.Duration) (*generation, int, error) {
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return nil, 0, transportError(ctx, req, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, resp.StatusCode, transportError(ctx, req, timeout, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode >= 300 {
		apiErr := &APIError{Status: resp.StatusCode, Code: "http_error", Message: http.StatusText(resp.StatusCode)}
		var envelope struct {
			Error *APIError `json:"error"`
		}
		if json.Unmarshal(body, &envelope) == nil && envelope.Error != nil {
			apiErr.Code, apiErr.Message, apiErr.Details = envelope.Error.Code, envelope.Error.Message, envelope.Error.Details
		}
		if resp.StatusCode == http.StatusUnauthorized {
			apiErr.hint = unauthorizedHint(c.apiKey)
		}
		return nil, resp.StatusCode, apiErr
	}
	g := &generation{}
	if err := json.Unmarshal(body, g); err != nil {
		return nil, resp.StatusCode, badAnswer(req, fmt.Sprintf("answered %d with no generation (%v)", resp.StatusCode, err))
	}
	switch {
	case g.ID == "":
		return nil, resp.StatusCode, badAnswer(req, fmt.Sprintf("answered %d with a generation without an id", resp.StatusCode))
	case !slices.Contains(statuses, g.Status):
		return nil, resp.StatusCode, badAnswer(req, fmt.Sprintf("answered %d with a generation whose status, %q, is none of %s", resp.StatusCode, g.Status, strings.Join(statuses, ", ")))
	}
	// On one line, for a script reading stdout line by line.
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("compact the answer: %w", err)
	}
	g.raw = compact.Bytes()
	return g, resp.StatusCode, nil
}

// transportError words err, the failure to get an answer to req within
// timeout, which ctx applied, by what the caller can do about it: each is
// ErrNoAnswer but for the caller's own cancellation.
func transportError(ctx context.Context, req *http.Request, timeout time.Duration, err error) error {
	switch {
	case req.Context().Err() != nil:
		// The caller's: an interrupt, or its own deadline.
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &timeoutError{req: req, timeout: timeout}
	}
	var dnsErr *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
		// Nothing was sent: the server never saw the request.
		return mark(fmt.Errorf("could not reach the server (is easel serve running at --server?): %w", err), ErrNoAnswer)
	}
	return mark(err, ErrNoAnswer)
}

// badAnswer is ErrBadAnswer for req's answer, which what describes.
func badAnswer(req *http.Request, what string) error {
	return mark(fmt.Errorf("%s %s %s: is --server an Easel server?", req.Method, req.URL.Redacted(), what), ErrBadAnswer)
}

// retryable reports whether waiting should carry on after err: the server
// may be restarting or briefly overloaded, or the network down for a while.
// An answer that is not the API's is not retried: it would come again.
func retryable(err error) bool {
	return errors.Is(err, ErrNoAnswer)
}
