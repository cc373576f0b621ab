package fal

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/easelhq/easel/internal/logthrottle"
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
// send, such as a malformed SubmitRequest, or a URL outside the queue host
// that names no request to ask the queue host about instead.
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

	// Logger warns of URLs fal returned off QueueURL's host, which the
	// client replaces (see Client.Status); nil means slog.Default().
	Logger *slog.Logger

	// MediaExpiration, when not zero, asks fal to delete each submitted
	// request's output media (the images at its result's URLs) for good
	// this long after, sent with every Submit as
	// X-Fal-Object-Lifecycle-Preference. fal takes whole seconds: a value
	// that is not a whole number of seconds, or is below one second, makes
	// every Submit fail with ErrInvalidRequest, sending nothing, rather than
	// keep the media for another time than the one asked for. Zero sends
	// no header, leaving the account's media retention.
	MediaExpiration time.Duration

	// DisableStoreIO asks fal not to keep each submitted request's JSON,
	// which it otherwise keeps for 30 days, sent with every Submit as
	// X-Fal-Store-IO: 0. A "disable" rather than a StoreIO that defaults
	// to true, so that the zero ClientConfig, as every caller that sets
	// neither field writes it, sends no header and leaves fal's default.
	DisableStoreIO bool

	// offHostLogOptions are for tests' clocks.
	offHostLogOptions []logthrottle.Option
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

// offHostWarnEvery is how often at most a URL host other than the queue's
// is warned of: a stored URL is used at every reconcile run of its
// generation, and a line each time would bury the log. offHostForget lets
// a host that stopped turning up be forgotten.
const (
	offHostWarnEvery = 10 * time.Minute
	offHostForget    = 6 * offHostWarnEvery
)

// Client talks to fal's queue REST API. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	baseErr    error
	key        string
	httpClient *http.Client
	logger     *slog.Logger
	// retention is added to every submit.
	retention retentionHeaders
	// offHost throttles the WARNs of URLs off the queue host, by host.
	offHost *logthrottle.Throttle
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
	c := &Client{key: cfg.Key, httpClient: &httpClient, logger: cmp.Or(cfg.Logger, slog.Default()),
		retention: newRetentionHeaders(cfg.MediaExpiration, cfg.DisableStoreIO),
		offHost:   logthrottle.New(offHostWarnEvery, offHostForget, cfg.offHostLogOptions...)}

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
// RequestURLs when fal leaves them out. Only the request id must be
// readable: a field that is not (a URL that is not a string, a queue
// position that is not an integer) is left out, since an answer dropped
// over it would leave a request fal accepted, and bills, without its id.
type QueueResponse struct {
	RequestID        string `json:"request_id"`
	GatewayRequestID string `json:"gateway_request_id"`
	ResponseURL      string `json:"response_url"`
	StatusURL        string `json:"status_url"`
	CancelURL        string `json:"cancel_url"`
	// QueuePosition is how many requests fal reported ahead of this one
	// (0: next to run), nil when fal gave none, or none that is a
	// non-negative integer (2.0 is taken as 2): a missing position is not
	// "next to run".
	QueuePosition *int `json:"queue_position"`
}

// Submit puts a request on fal's queue, with the retention headers of the
// client's ClientConfig (MediaExpiration, DisableStoreIO).
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*QueueResponse, error) {
	if err := req.validate(); err != nil {
		return nil, fmt.Errorf("fal submit: %w", err)
	}
	if c.baseErr != nil {
		return nil, fmt.Errorf("fal submit: %w", c.baseErr)
	}
	if c.retention.err != nil {
		return nil, fmt.Errorf("fal submit: %w", c.retention.err)
	}

	target := c.base.JoinPath(strings.Split(req.EndpointID, "/")...)
	if req.WebhookURL != "" {
		target.RawQuery = url.Values{"fal_webhook": {req.WebhookURL}}.Encode()
	}
	header := http.Header{"Content-Type": {"application/json"}}
	if req.Priority != "" {
		header.Set("X-Fal-Queue-Priority", req.Priority)
	}
	c.retention.set(header)

	body, err := c.do(ctx, "submit", http.MethodPost, target.String(), header, req.Input)
	if err != nil {
		return nil, err
	}

	resp, err := decodeQueueResponse(body)
	if err != nil {
		return nil, fmt.Errorf("fal submit: %w", err)
	}
	status, response, cancel := c.RequestURLs(req.EndpointID, resp.RequestID)
	resp.StatusURL = cmp.Or(resp.StatusURL, status)
	resp.ResponseURL = cmp.Or(resp.ResponseURL, response)
	resp.CancelURL = cmp.Or(resp.CancelURL, cancel)
	return resp, nil
}

// Status is a request's state on fal's queue. Only the status itself must
// be readable: any other field that is not (a queue position of 2.5, a log
// line's timestamp that is an object) is left out, so that an answer saying
// COMPLETED is never lost over a detail.
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

	// Error and ErrorType are set when a completed request failed. An
	// error that is not a string (an object, say) is kept as its compact
	// JSON, one bounded line: it still says the request failed.
	Error     string
	ErrorType string
}

// LogLine is one log line of a running request.
type LogLine struct {
	Message string `json:"message"`
	Level   string `json:"level,omitempty"`
	Source  string `json:"source,omitempty"`

	// Timestamp is kept as sent (RFC 3339 so far; a number is kept as its
	// digits) so that an unexpected format cannot make the whole status
	// unreadable.
	Timestamp string `json:"timestamp,omitempty"`
}

// Status fetches a request's status, with logs, from the status URL returned
// by Submit (or built by RequestURLs).
//
// Status, Result and Cancel send the key only to QueueURL's host (an
// explicit default port, https's 443 or http's 80, is the same host). A
// URL elsewhere, such as one on fal's backup host queue.falrun.com, is
// replaced by the one RequestURLs builds from the endpoint and request id
// in its path, on QueueURL's host, with a WARN naming both hosts (at most
// one every ten minutes per host); one naming no request is refused with
// ErrInvalidRequest. So a stored URL on another host still reaches the
// request, and callers need not know.
func (c *Client) Status(ctx context.Context, statusURL string) (*Status, error) {
	target, err := c.queueURL("status", statusURL)
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

	status, err := decodeStatus(body)
	if err != nil {
		return nil, fmt.Errorf("fal status: %w", err)
	}
	return status, nil
}

// Result fetches a completed request's model output, as sent. A request that
// failed answers with its error status and body, returned as an *APIError.
// A 2xx answer whose body is not JSON is returned as an *InvalidOutputError
// holding the body; an empty one as a plain error.
func (c *Client) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	target, err := c.queueURL("result", responseURL)
	if err != nil {
		return nil, fmt.Errorf("fal result: %w", err)
	}
	body, err := c.do(ctx, "result", http.MethodGet, target.String(), nil, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		// Nothing to keep or to read a verdict from: more likely a proxy's
		// or a connection's fault than fal's output, so worth asking again.
		return nil, errors.New("fal result: response is empty")
	case !json.Valid(body):
		return nil, &InvalidOutputError{Body: body}
	}
	return body, nil
}

// InvalidOutputError is Result's error when fal answered a result with
// success but a body that is not JSON. Asking again is likely to get the
// same bytes, and fal likely billed the request, so the caller records the
// result as one it could not read, keeping Body, rather than retrying until
// the result is called unavailable and the body is lost.
type InvalidOutputError struct {
	// Body is the response body exactly as fal sent it (at most
	// maxResponseBody bytes).
	Body []byte
}

func (e *InvalidOutputError) Error() string {
	return fmt.Sprintf("fal result: response is not valid JSON (%d bytes)", len(e.Body))
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
//
// A 2xx answer is CancelRequested unless its body says otherwise: a status
// of ALREADY_COMPLETED or NOT_FOUND is taken as that outcome, and the old
// API's 200 {"success": false} (protocol §1.6), which cancelled nothing, as
// CancelAlreadyCompleted: fal keeps the request, which runs to its end and
// bills, so its result is to be fetched, not the generation called
// cancelled.
func (c *Client) Cancel(ctx context.Context, cancelURL string) (CancelOutcome, error) {
	target, err := c.queueURL("cancel", cancelURL)
	if err != nil {
		return "", fmt.Errorf("fal cancel: %w", err)
	}
	body, err := c.do(ctx, "cancel", http.MethodPut, target.String(), nil, nil)

	var apiErr *APIError
	switch {
	case err == nil:
		return acceptedCancelOutcome(body), nil
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

// acceptedCancelOutcome reads a 2xx answer to a cancel. A body that says
// nothing Easel knows is fal's documented 202, CancellationRequested.
func acceptedCancelOutcome(body []byte) CancelOutcome {
	var answer struct {
		Status  json.RawMessage `json:"status"`
		Success json.RawMessage `json:"success"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return CancelRequested
	}
	var status CancelOutcome
	if json.Unmarshal(answer.Status, &status) == nil {
		switch status {
		case CancelRequested, CancelAlreadyCompleted, CancelNotFound:
			return status
		}
	}
	// Only a literal false: null or a missing field says nothing.
	if string(bytes.TrimSpace(answer.Success)) == "false" {
		return CancelAlreadyCompleted
	}
	return CancelRequested
}

// RequestURLs builds a request's status, response and cancel URLs from its
// endpoint id and request id, for when fal's returned URLs are unknown. These
// URLs use only the endpoint's owner/app (protocol §1.1).
func (c *Client) RequestURLs(endpointID, requestID string) (status, response, cancel string) {
	base := DefaultQueueURL
	if c.base != nil {
		base = c.base.String()
	}
	app := strings.Split(appID(endpointID), "/")
	for i, segment := range app {
		app[i] = url.PathEscape(segment)
	}
	response = base + "/" + strings.Join(app, "/") + "/requests/" + url.PathEscape(requestID)
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

// CloseIdleConnections closes the idle connections of the transport both
// ways send through (traced wraps plain), so that http.Client's reaches it.
func (t tracedTransport) CloseIdleConnections() {
	if closer, ok := t.plain.(interface{ CloseIdleConnections() }); ok {
		closer.CloseIdleConnections()
	}
}

// CloseIdleConnections closes the connections c keeps open to fal's queue
// host for its next calls, those of a ClientConfig.HTTPClient's transport
// included; calls made afterwards open new ones. Call it once nothing calls
// c any more, before stopping a server c called (an in-process simulator):
// http.Server.Shutdown waits, for up to 5 s, on a connection that was
// dialled but never sent a request, which c's transport keeps as idle when
// another connection served the call it was dialled for.
func (c *Client) CloseIdleConnections() {
	c.httpClient.CloseIdleConnections()
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
