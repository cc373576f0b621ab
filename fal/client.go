package fal

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const (
	// DefaultQueueURL is fal's queue host.
	DefaultQueueURL = "https://queue.fal.run"

	// EndpointImagePrompt is the endpoint id of Fooocus image-prompt.
	EndpointImagePrompt = "fal-ai/fooocus/image-prompt"
)

// Queue statuses reported by Client.Status. fal has no failed or cancelled
// status: a failed request is StatusCompleted with Status.Error set.
const (
	StatusInQueue    = "IN_QUEUE"
	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"
)

// Queue priorities for SubmitRequest.Priority. Low priority requests wait
// behind all normal ones on the endpoint's shared queue.
const (
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// ErrInvalidRequest is wrapped by errors for requests the client refused to
// send, such as a malformed SubmitRequest or a URL outside the queue host.
// Unlike transport errors, retrying them cannot succeed.
var ErrInvalidRequest = errors.New("invalid fal request")

const (
	// maxResponseBody bounds successful responses. Outputs made with
	// sync_mode inline images as data URIs, so they can be large.
	maxResponseBody = 64 << 20

	// maxErrorBody bounds the error body kept in APIError.Body.
	maxErrorBody = 64 << 10
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// QueueURL is fal's queue base URL; empty means DefaultQueueURL.
	QueueURL string

	// Key is the fal API key, sent as "Authorization: Key <key>". It never
	// appears in errors and is only sent to QueueURL's host.
	Key string

	// HTTPClient sends requests; nil means a client with a one minute
	// timeout. The Client sends through a copy whose transport makes a
	// span of each call (see NewClient).
	HTTPClient *http.Client
}

// maxIdleConnsPerHost is above the workers a process usually runs
// (EASEL_WORKERS, 16 by default), so that each keeps its connection.
const maxIdleConnsPerHost = 64

// Queue is fal's queue REST API as Client speaks it: the interface Easel's
// jobs call it through, so that metrics can count the calls and tests can
// stand in for fal.
type Queue interface {
	Submit(ctx context.Context, req SubmitRequest) (*QueueResponse, error)
	Status(ctx context.Context, statusURL string) (*Status, error)
	Result(ctx context.Context, responseURL string) (json.RawMessage, error)
	Cancel(ctx context.Context, cancelURL string) (CancelOutcome, error)
	RequestURLs(endpointID, requestID string) (status, response, cancel string)
}

var _ Queue = (*Client)(nil)

// Client talks to fal's queue REST API. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	baseErr    error
	key        string
	httpClient *http.Client
}

// NewClient returns a client for cfg. A malformed QueueURL makes every call
// fail with ErrInvalidRequest.
//
// Each call is an OpenTelemetry client span named after its operation
// ("fal submit", "fal status", "fal result", "fal cancel"), with the HTTP
// status fal answered, a child of the span in the call's context, from the
// tracer provider of that span, else the global one (a no-op unless the
// program installs one). The request carries the W3C traceparent, but no
// baggage, which is the caller's and not fal's to read. A call made
// outside any trace makes no span.
func NewClient(cfg ClientConfig) *Client {
	var httpClient http.Client
	if cfg.HTTPClient != nil {
		httpClient = *cfg.HTTPClient // the caller's stays as it is
	} else {
		// http.DefaultTransport keeps 2 idle connections per host: with
		// more workers than that, most submits would open (and handshake)
		// a new connection to fal's one host.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = maxIdleConnsPerHost
		httpClient = http.Client{Timeout: time.Minute, Transport: transport}
	}
	if httpClient.Transport == nil {
		httpClient.Transport = http.DefaultTransport
	}
	httpClient.Transport = tracedTransport{
		plain: httpClient.Transport,
		traced: otelhttp.NewTransport(httpClient.Transport,
			otelhttp.WithPropagators(propagation.TraceContext{}),
			otelhttp.WithSpanNameFormatter(spanName)),
	}
	c := &Client{key: cfg.Key, httpClient: &httpClient}

	raw := cfg.QueueURL
	if raw == "" {
		raw = DefaultQueueURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("%w: queue URL: %w", ErrInvalidRequest, err)
	case base.Scheme == "" || base.Host == "":
		c.baseErr = fmt.Errorf("%w: queue URL %q is not absolute", ErrInvalidRequest, raw)
	case base.Scheme != "http" && base.Scheme != "https":
		// net/http would refuse to send anything to it, and the error would
		// look like a request lost on the way.
		c.baseErr = fmt.Errorf("%w: queue URL %q is not http(s)", ErrInvalidRequest, raw)
	default:
		c.base = base
	}
	return c
}

// SubmitRequest is one request to put on an endpoint's queue.
type SubmitRequest struct {
	// EndpointID is the full endpoint id, e.g. EndpointImagePrompt.
	EndpointID string

	// Input is the model input, sent verbatim as the request body.
	Input json.RawMessage

	// WebhookURL is where fal posts the result; empty means no webhook.
	WebhookURL string

	// Priority is "", PriorityNormal or PriorityLow; "" leaves fal's
	// default (normal).
	Priority string
}

func (r SubmitRequest) validate() error {
	id := r.EndpointID
	if strings.Count(id, "/") < 1 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") ||
		strings.Contains(id, "//") || strings.Contains(id, "..") {
		return fmt.Errorf("%w: endpoint id %q is not owner/app[/path]", ErrInvalidRequest, id)
	}
	if !json.Valid(r.Input) {
		return fmt.Errorf("%w: input is not valid JSON", ErrInvalidRequest)
	}
	if r.WebhookURL != "" {
		if u, err := url.Parse(r.WebhookURL); err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("%w: webhook URL %q is not absolute", ErrInvalidRequest, r.WebhookURL)
		}
	}
	switch r.Priority {
	case "", PriorityNormal, PriorityLow:
	default:
		return fmt.Errorf("%w: priority %q is not %q or %q", ErrInvalidRequest, r.Priority, PriorityNormal, PriorityLow)
	}
	return nil
}

// QueueResponse is fal's answer to a submit. The URLs are filled in from
// RequestURLs when fal leaves them out.
type QueueResponse struct {
	RequestID        string `json:"request_id"`
	GatewayRequestID string `json:"gateway_request_id"`
	ResponseURL      string `json:"response_url"`
	StatusURL        string `json:"status_url"`
	CancelURL        string `json:"cancel_url"`
	QueuePosition    int    `json:"queue_position"`
}

// Submit puts a request on fal's queue.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*QueueResponse, error) {
	if err := req.validate(); err != nil {
		return nil, fmt.Errorf("fal submit: %w", err)
	}
	if c.baseErr != nil {
		return nil, fmt.Errorf("fal submit: %w", c.baseErr)
	}

	target := c.base.JoinPath(strings.Split(req.EndpointID, "/")...)
	if req.WebhookURL != "" {
		target.RawQuery = url.Values{"fal_webhook": {req.WebhookURL}}.Encode()
	}
	header := http.Header{"Content-Type": {"application/json"}}
	if req.Priority != "" {
		header.Set("X-Fal-Queue-Priority", req.Priority)
	}

	body, err := c.do(ctx, "submit", http.MethodPost, target.String(), header, req.Input)
	if err != nil {
		return nil, err
	}

	var resp QueueResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("fal submit: decode response: %w", err)
	}
	if resp.RequestID == "" {
		return nil, errors.New("fal submit: response has no request_id")
	}
	status, response, cancel := c.RequestURLs(req.EndpointID, resp.RequestID)
	resp.StatusURL = cmp.Or(resp.StatusURL, status)
	resp.ResponseURL = cmp.Or(resp.ResponseURL, response)
	resp.CancelURL = cmp.Or(resp.CancelURL, cancel)
	return &resp, nil
}

// Status is a request's state on fal's queue.
type Status struct {
	// Status is StatusInQueue, StatusInProgress or StatusCompleted.
	Status    string
	RequestID string

	// QueuePosition is the number of requests ahead; set while in queue.
	QueuePosition *int

	ResponseURL string
	StatusURL   string
	CancelURL   string
	Logs        []LogLine

	// InferenceTime is metrics.inference_time in seconds, when completed
	// and reported.
	InferenceTime *float64

	// Error and ErrorType are set when a completed request failed.
	Error     string
	ErrorType string
}

// LogLine is one log line of a running request.
type LogLine struct {
	Message string `json:"message"`
	Level   string `json:"level,omitempty"`
	Source  string `json:"source,omitempty"`

	// Timestamp is kept as sent (RFC 3339 so far) so that an unexpected
	// format cannot make the whole status unreadable.
	Timestamp string `json:"timestamp,omitempty"`
}

// Status fetches a request's status, with logs, from the status URL returned
// by Submit (or built by RequestURLs).
func (c *Client) Status(ctx context.Context, statusURL string) (*Status, error) {
	target, err := c.queueURL(statusURL)
	if err != nil {
		return nil, fmt.Errorf("fal status: %w", err)
	}
	query := target.Query()
	query.Set("logs", "1")
	target.RawQuery = query.Encode()

	body, err := c.do(ctx, "status", http.MethodGet, target.String(), nil, nil)
	if err != nil {
		return nil, err
	}

	var wire struct {
		Status        string    `json:"status"`
		RequestID     string    `json:"request_id"`
		QueuePosition *int      `json:"queue_position"`
		ResponseURL   string    `json:"response_url"`
		StatusURL     string    `json:"status_url"`
		CancelURL     string    `json:"cancel_url"`
		Logs          []LogLine `json:"logs"`
		Metrics       struct {
			InferenceTime *float64 `json:"inference_time"`
		} `json:"metrics"`
		Error     string `json:"error"`
		ErrorType string `json:"error_type"`
	}
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, fmt.Errorf("fal status: decode response: %w", err)
	}
	if wire.Status == "" {
		return nil, errors.New("fal status: response has no status")
	}
	return &Status{
		Status:        wire.Status,
		RequestID:     wire.RequestID,
		QueuePosition: wire.QueuePosition,
		ResponseURL:   wire.ResponseURL,
		StatusURL:     wire.StatusURL,
		CancelURL:     wire.CancelURL,
		Logs:          wire.Logs,
		InferenceTime: wire.Metrics.InferenceTime,
		Error:         wire.Error,
		ErrorType:     wire.ErrorType,
	}, nil
}

// Result fetches a completed request's model output, as sent. A request that
// failed answers with its error status and body, returned as an *APIError.
func (c *Client) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	target, err := c.queueURL(responseURL)
	if err != nil {
		return nil, fmt.Errorf("fal result: %w", err)
	}
	body, err := c.do(ctx, "result", http.MethodGet, target.String(), nil, nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, errors.New("fal result: response is not valid JSON")
	}
	return body, nil
}

// CancelOutcome is what fal did with a cancel request.
type CancelOutcome string

const (
	// CancelRequested means a queued request was removed, or a running one
	// was signalled and may still complete.
	CancelRequested CancelOutcome = "CANCELLATION_REQUESTED"

	// CancelAlreadyCompleted means the request had already finished.
	CancelAlreadyCompleted CancelOutcome = "ALREADY_COMPLETED"

	// CancelNotFound means fal does not know the request.
	CancelNotFound CancelOutcome = "NOT_FOUND"
)

// Cancel asks fal to cancel a request through its cancel URL.
func (c *Client) Cancel(ctx context.Context, cancelURL string) (CancelOutcome, error) {
	target, err := c.queueURL(cancelURL)
	if err != nil {
		return "", fmt.Errorf("fal cancel: %w", err)
	}
	_, err = c.do(ctx, "cancel", http.MethodPut, target.String(), nil, nil)

	var apiErr *APIError
	switch {
	case err == nil:
		return CancelRequested, nil
	case !errors.As(err, &apiErr):
		return "", err
	case apiErr.StatusCode == http.StatusNotFound:
		return CancelNotFound, nil
	case apiErr.StatusCode == http.StatusBadRequest:
		// A 400 is also what a malformed request gets, so only the body
		// tells the two apart.
		var body struct {
			Status CancelOutcome `json:"status"`
		}
		if json.Unmarshal(apiErr.Body, &body) == nil && body.Status == CancelAlreadyCompleted {
			return CancelAlreadyCompleted, nil
		}
	}
	return "", err
}

// RequestURLs builds a request's status, response and cancel URLs from its
// endpoint id and request id, for when fal's returned URLs are unknown. These
// URLs use only the endpoint's owner/app (protocol §1.1).
func (c *Client) RequestURLs(endpointID, requestID string) (status, response, cancel string) {
	base := DefaultQueueURL
	if c.base != nil {
		base = c.base.String()
	}
	response = base + "/" + appID(endpointID) + "/requests/" + url.PathEscape(requestID)
	return response + "/status", response, response + "/cancel"
}

// appID trims an endpoint id to owner/app, keeping a reserved namespace
// prefix such as "workflows/" in front of them as fal's clients do.
func appID(endpointID string) string {
	parts := strings.Split(endpointID, "/")
	n := 2
	if parts[0] == "workflows" || parts[0] == "comfy" {
		n = 3
	}
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, "/")
}

// queueURL parses a URL fal returned and refuses any outside the queue host,
// so that a stored or forged URL cannot make the client send its key
// elsewhere.
func (c *Client) queueURL(raw string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return nil, fmt.Errorf("%w: URL %q is not on the queue host %s", ErrInvalidRequest, u.Redacted(), c.base.Host)
	}
	return u, nil
}

// sendableHeader returns an error naming the first header net/http would
// refuse to send, with a value holding a control character other than a
// tab. net/http finds it only once the request is handed to the transport,
// and its error then reads like any failure on the way, which may come
// after fal received the request: a submit would be counted as possibly
// paid and waited on. Found here, it is ErrInvalidRequest: nothing was
// sent. The value is never in the error: the Authorization header holds
// the key.
func sendableHeader(header http.Header) error {
	for name, values := range header {
		for _, v := range values {
			if strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) < 0 {
				continue
			}
			if name == "Authorization" {
				return errors.New(`header "Authorization" holds a control character, such as a trailing newline, from the fal key (FAL_KEY); nothing was sent`)
			}
			return fmt.Errorf("header %q holds a control character; nothing was sent", name)
		}
	}
	return nil
}

// operationKey is the context key of the operation a request is sent for,
// which names its span.
type operationKey struct{}

// tracedTransport sends a request made within a trace through otelhttp and
// any other as it is: without a trace to continue, otelhttp would still
// build a span's attributes and metrics for every call (2% of a bench
// process's CPU with tracing off).
type tracedTransport struct {
	plain, traced http.RoundTripper
}

func (t tracedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.traced.RoundTrip(r)
	}
	return t.plain.RoundTrip(r)
}

// spanName names the span of r after its operation ("fal submit"), or, for
// a request sent otherwise, its method alone: its path holds ids.
func spanName(_ string, r *http.Request) string {
	if op, ok := r.Context().Value(operationKey{}).(string); ok {
		return "fal " + op
	}
	return "fal " + r.Method
}

// do sends one request and returns the body of a 2xx response, or an
// *APIError for any other status.
func (c *Client) do(ctx context.Context, op, method, target string, header http.Header, body []byte) ([]byte, error) {
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, operationKey{}, op), method, target, reqBody)
	if err != nil {
		return nil, fmt.Errorf("fal %s: %w: %w", op, ErrInvalidRequest, err)
	}
	maps.Copy(req.Header, header)
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Key "+c.key)
	}
	if err := sendableHeader(req.Header); err != nil {
		return nil, fmt.Errorf("fal %s: %w: %w", op, ErrInvalidRequest, err)
	}

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fal %s: %w", op, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A truncated or unreadable error body still says enough.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, newAPIError(op, resp, data, c.key)
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("fal %s: read response: %w", op, err)
	}
	if len(data) > maxResponseBody {
		return nil, fmt.Errorf("fal %s: response is larger than %d bytes", op, maxResponseBody)
	}
	return data, nil
}
