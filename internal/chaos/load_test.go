package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// enqueueRetryDelay is how long the client waits before sending a refused
// or failed enqueue again, to the next API process, as a calling service
// would back off.
const enqueueRetryDelay = 100 * time.Millisecond

// numImages is how many images generation i asks for.
func numImages(i int) int { return 1 + i%4 }

// loadClient enqueues generations as a calling service would: over HTTP,
// with an Idempotency-Key, retrying on any error against the next API
// process until one accepts.
type loadClient struct {
	apis   []string // base URLs
	apiKey string   // with FAL_KEY set, the API is never open
	http   *http.Client

	next    atomic.Uint64
	retries atomic.Int64

	mu       sync.Mutex
	accepted map[int]uuid.UUID
}

func newLoadClient(apiKey string, apis ...string) *loadClient {
	return &loadClient{apis: apis, apiKey: apiKey, http: &http.Client{Timeout: 10 * time.Second}, accepted: make(map[int]uuid.UUID)}
}

// run enqueues n generations spread over d, a few at a time.
func (l *loadClient) run(ctx context.Context, n int, d time.Duration) error {
	ticker := time.NewTicker(d / time.Duration(n))
	defer ticker.Stop()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		sem      = make(chan struct{}, 16)
	)
	for i := range n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := l.enqueue(ctx, i); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	return firstErr
}

// enqueue sends generation i until it is accepted.
func (l *loadClient) enqueue(ctx context.Context, i int) error {
	body := fmt.Appendf(nil, `{"num_images": %d, "image_prompt_1": {"image_url": "https://example.com/%d.png"}, "metadata": {"chaos": %d}}`,
		numImages(i), i, i)
	for {
		api := l.apis[l.next.Add(1)%uint64(len(l.apis))]
		id, err := l.post(ctx, api, fmt.Sprintf("chaos-%d", i), body)
		if err == nil {
			l.mu.Lock()
			l.accepted[i] = id
			l.mu.Unlock()
			return nil
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("enqueue generation %d: %w", i, err)
		}
		l.retries.Add(1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("enqueue generation %d: %w (last error: %w)", i, ctx.Err(), err)
		case <-time.After(enqueueRetryDelay):
		}
	}
}

func (l *loadClient) post(ctx context.Context, api, key string, body []byte) (uuid.UUID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/generations", bytes.NewReader(body))
	if err != nil {
		return uuid.Nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", "Bearer "+l.apiKey)
	resp, err := l.http.Do(req)
	if err != nil {
		return uuid.Nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return uuid.Nil, err
	}
	switch code := resp.StatusCode; {
	case code == http.StatusAccepted, code == http.StatusOK:
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return uuid.Nil, &refusedError{fmt.Sprintf("%s answered %d: %s", api, code, raw)}
	default:
		return uuid.Nil, fmt.Errorf("%s answered %d: %s", api, code, raw)
	}
	var gen struct {
		ID uuid.UUID `json:"id"`
	}
	if err := json.Unmarshal(raw, &gen); err != nil {
		return uuid.Nil, fmt.Errorf("%s answered %d with %q: %w", api, resp.StatusCode, raw, err)
	}
	return gen.ID, nil
}

// refusedError is an answer that retrying cannot change.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func (l *loadClient) acceptedIDs() map[int]uuid.UUID {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]uuid.UUID, len(l.accepted))
	for k, v := range l.accepted {
		out[k] = v
	}
	return out
}
