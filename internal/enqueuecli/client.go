package enqueuecli

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
)

// generation is the part of the API's generation resource the command shows.
type generation struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	FalRequestID *string    `json:"fal_request_id"`
	Error        *errorInfo `json:"error"`
	Images       []image    `json:"images"`
}

type image struct {
	URL  string `json:"url"`
	NSFW bool   `json:"nsfw"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

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

// Is makes a rejected input (400, 422) match ErrInvalidInput: the caller
// must change the request, and retrying it would not help.
func (e *APIError) Is(target error) bool {
	return target == ErrInvalidInput && (e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity)
}

// client speaks to Easel's /v1 API.
type client struct {
	base   string // without a trailing slash
	apiKey string
	http   *http.Client
}

// requestTimeout bounds one API call on top of any long-poll wait.
const requestTimeout = 30 * time.Second

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
	var g generation
	status, err := c.do(req, &g, requestTimeout)
	if err != nil {
		return nil, false, fmt.Errorf("enqueue: %w", err)
	}
	return &g, status == http.StatusAccepted, nil
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
	var g generation
	if _, err := c.do(req, &g, wait+requestTimeout); err != nil {
		return nil, fmt.Errorf("get generation %s: %w", id, err)
	}
	return &g, nil
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

func (c *client) do(req *http.Request, into any, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read response: %w", err)
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
		return resp.StatusCode, apiErr
	}
	if err := json.Unmarshal(body, into); err != nil {
		return resp.StatusCode, fmt.Errorf("decode response: %w", err)
	}
	return resp.StatusCode, nil
}

// retryable reports whether waiting should carry on after err: the server
// may be restarting or briefly overloaded.
func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	}
	return !errors.Is(err, context.Canceled)
}
