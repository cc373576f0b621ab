package falsim

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingRender is an imageCache.render that counts its calls by key and
// holds the render of key blocked until release is closed.
type countingRender struct {
	blocked  imageKey
	started  chan struct{} // closed when the render of blocked starts
	release  chan struct{}
	mu       sync.Mutex
	renders  map[imageKey]int
	failNext error
}

func newCountingRender(blocked imageKey) *countingRender {
	return &countingRender{blocked: blocked, started: make(chan struct{}), release: make(chan struct{}), renders: map[imageKey]int{}}
}

func (r *countingRender) render(k imageKey) ([]byte, error) {
	r.mu.Lock()
	r.renders[k]++
	first := r.renders[k] == 1
	err := r.failNext
	r.failNext = nil
	r.mu.Unlock()
	if k == r.blocked && first {
		close(r.started)
		<-r.release
	}
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprint(k)), nil
}

func (r *countingRender) count(k imageKey) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.renders[k]
}

// awaitGet returns the result of get(k), failing the test if it is still
// waiting after a time no unblocked get comes near.
func awaitGet(t *testing.T, c *imageCache, k imageKey) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := c.get(k)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.b
	case <-time.After(10 * time.Second):
		t.Fatalf("get(%v) is blocked by another key's render", k)
		return nil
	}
}

// A large render holds up neither gets of cached keys nor renders of other
// keys, and concurrent gets of the key being rendered share its one render.
func TestImageCacheRendersOutsideTheLock(t *testing.T) {
	t.Parallel()

	slow := imageKey{maxSize, maxSize, 0, formatJPEG}
	cached := imageKey{minSize, minSize, 0, formatPNG}
	other := imageKey{minSize, minSize, 1, formatWebP}
	r := newCountingRender(slow)
	c := newImageCache()
	c.render = r.render
	require.Equal(t, []byte(fmt.Sprint(cached)), awaitGet(t, c, cached))

	slowResults := make(chan []byte, 2)
	for range 2 {
		go func() {
			b, err := c.get(slow)
			if err != nil {
				b = []byte(err.Error())
			}
			slowResults <- b
		}()
	}
	<-r.started

	require.Equal(t, []byte(fmt.Sprint(cached)), awaitGet(t, c, cached))
	require.Equal(t, []byte(fmt.Sprint(other)), awaitGet(t, c, other))
	require.Equal(t, 1, r.count(cached), "served from the cache")

	close(r.release)
	for range 2 {
		require.Equal(t, []byte(fmt.Sprint(slow)), <-slowResults)
	}
	require.Equal(t, 1, r.count(slow))
	require.Equal(t, []byte(fmt.Sprint(slow)), awaitGet(t, c, slow))
	require.Equal(t, 1, r.count(slow), "served from the cache")
}

// A render that fails or panics is not cached: the next get renders again.
func TestImageCacheRetriesFailedRenders(t *testing.T) {
	t.Parallel()

	k := imageKey{minSize, minSize, 0, formatPNG}
	tests := []struct {
		name string
		fail func(c *imageCache, r *countingRender)
	}{
		{"error", func(c *imageCache, r *countingRender) {
			r.failNext = errors.New("disk full")
			_, err := c.get(k)
			require.ErrorContains(t, err, "disk full")
		}},
		{"panic", func(c *imageCache, r *countingRender) {
			c.render = func(imageKey) ([]byte, error) { panic("renderer bug") }
			require.PanicsWithValue(t, "renderer bug", func() { _, _ = c.get(k) })
			c.render = r.render
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newCountingRender(imageKey{})
			c := newImageCache()
			c.render = r.render
			tt.fail(c, r)
			require.Equal(t, []byte(fmt.Sprint(k)), awaitGet(t, c, k))
		})
	}
}
