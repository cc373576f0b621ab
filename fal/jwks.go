package fal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultJWKSURL is where fal publishes its webhook signing keys.
const DefaultJWKSURL = "https://rest.fal.ai/.well-known/jwks.json"

const (
	// maxJWKSAge is the longest fal allows its keys to be cached.
	maxJWKSAge = 24 * time.Hour

	defaultMinRefreshInterval = time.Minute

	defaultJWKSFetchTimeout = 10 * time.Second

	maxJWKSBody = 1 << 20
)

// JWKSConfig configures a JWKS.
type JWKSConfig struct {
	// URL of the key set; empty means DefaultJWKSURL.
	URL string

	// HTTPClient fetches the key set; nil means a client with a ten second
	// timeout.
	HTTPClient *http.Client

	// MaxAge is how long fetched keys are used before a refetch; 0 or more
	// than 24 hours means 24 hours.
	MaxAge time.Duration

	// MinRefreshInterval is the least time between two fetches, so that a
	// flood of forged webhooks cannot turn into a flood of fetches; 0 means
	// one minute.
	MinRefreshInterval time.Duration

	// FetchTimeout bounds a fetch, whatever HTTPClient's own timeout; 0
	// means ten seconds. A fetch does not end with the caller that started
	// it (see Keys), so this is what ends one that fal never answers.
	FetchTimeout time.Duration

	// Logger reports failed fetches that stale keys cover for; nil means
	// slog.Default().
	Logger *slog.Logger

	// now replaces time.Now, so that tests age the keys by hand.
	now func() time.Time
}

// JWKS is a KeyRefresher backed by fal's JSON Web Key Set. Keys are fetched on
// first use and cached; when a fetch fails the previous keys stay in use. It
// is safe for concurrent use, and only one fetch runs at a time.
type JWKS struct {
	url string
	// shown is url as errors and logs show it: without user information,
	// query or fragment, which may carry credentials, since a forged
	// webhook's error is logged and stored.
	shown              string
	httpClient         *http.Client
	maxAge             time.Duration
	minRefreshInterval time.Duration
	fetchTimeout       time.Duration
	logger             *slog.Logger
	now                func() time.Time

	mu        sync.Mutex
	keys      []ed25519.PublicKey // replaced on fetch, never modified
	fetchedAt time.Time           // last successful fetch
	triedAt   time.Time           // last fetch, successful or not
	lastErr   error               // error of the last fetch, if it failed
	// fetching is closed when the fetch under way, if any, has ended and
	// its outcome is recorded above.
	fetching chan struct{}
}

// NewJWKS returns a key source for cfg. It fetches nothing until used.
func NewJWKS(cfg JWKSConfig) *JWKS {
	j := &JWKS{
		url:                cfg.URL,
		httpClient:         cfg.HTTPClient,
		maxAge:             cfg.MaxAge,
		minRefreshInterval: cfg.MinRefreshInterval,
		fetchTimeout:       cfg.FetchTimeout,
		logger:             cfg.Logger,
		now:                cfg.now,
	}
	if j.url == "" {
		j.url = DefaultJWKSURL
	}
	j.shown = shownURL(j.url)
	if j.httpClient == nil {
		j.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if j.maxAge <= 0 || j.maxAge > maxJWKSAge {
		j.maxAge = maxJWKSAge
	}
	if j.minRefreshInterval <= 0 {
		j.minRefreshInterval = defaultMinRefreshInterval
	}
	if j.fetchTimeout <= 0 {
		j.fetchTimeout = defaultJWKSFetchTimeout
	}
	if j.logger == nil {
		j.logger = slog.Default()
	}
	if j.now == nil {
		j.now = time.Now
	}
	return j
}

// Keys returns the cached keys, fetching them first if there are none, they
// are older than MaxAge, or refresh is set. No fetch starts within
// MinRefreshInterval of the previous one; the cached keys, or the last
// fetch's error if there are none, are returned instead.
//
// A fetch runs to its end, within FetchTimeout, even when the caller that
// started it gives up, and counts towards MinRefreshInterval. The callers
// are webhook requests, and a forger who hangs up once a fetch has started
// must not be able to start the next one at once: that would let forged
// webhooks drive fetches from fal as fast as they are sent. Its keys, a
// rotation among them, are there for the next caller. Callers that need a
// fetch while one is under way wait for it, each only as long as its own
// context allows.
func (j *JWKS) Keys(ctx context.Context, refresh bool) ([]ed25519.PublicKey, error) {
	keys, _, err := j.keysAndRefresh(ctx, refresh)
	return keys, err
}

// RefreshKeys is Keys(ctx, true), and says what it did: whether it
// refetched the keys, or when MinRefreshInterval lets the next fetch
// start.
func (j *JWKS) RefreshKeys(ctx context.Context) ([]ed25519.PublicKey, KeyRefresh, error) {
	return j.keysAndRefresh(ctx, true)
}

func (j *JWKS) keysAndRefresh(ctx context.Context, refresh bool) ([]ed25519.PublicKey, KeyRefresh, error) {
	j.mu.Lock()
	if !j.shouldFetch(refresh) {
		keys, err := j.cachedLocked()
		r := j.refreshLocked(false)
		j.mu.Unlock()
		return keys, r, err
	}
	fetching := j.fetching
	if fetching == nil {
		if err := ctx.Err(); err != nil {
			// Gone already: the fetch would be for nobody.
			r := j.refreshLocked(false)
			j.mu.Unlock()
			return nil, r, fmt.Errorf("fetch JWKS: %w", err)
		}
		fetching = make(chan struct{})
		j.fetching = fetching
		// Detached from the caller, whose values (trace, log
		// attributes) it keeps.
		go j.fetchAndRecord(context.WithoutCancel(ctx), fetching)
	}
	j.mu.Unlock()

	select {
	case <-fetching:
	case <-ctx.Done():
		j.mu.Lock()
		defer j.mu.Unlock()
		return nil, j.refreshLocked(false), fmt.Errorf("wait for JWKS fetch: %w", ctx.Err())
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	keys, err := j.cachedLocked()
	return keys, j.refreshLocked(true), err
}

// refreshLocked reports on the keys held, refetched by a fetch that just
// ended or not.
func (j *JWKS) refreshLocked(refetched bool) KeyRefresh {
	r := KeyRefresh{
		Source: j.shown, FetchedAt: j.fetchedAt, Refetched: refetched,
		NextFetch: j.triedAt.Add(j.minRefreshInterval), MinRefreshInterval: j.minRefreshInterval, Now: j.now(),
	}
	if refetched {
		r.FetchErr = j.lastErr
	}
	return r
}

// fetchAndRecord fetches the key set, records the outcome, and then closes
// done.
func (j *JWKS) fetchAndRecord(ctx context.Context, done chan struct{}) {
	defer close(done)
	fetchCtx, cancel := context.WithTimeout(ctx, j.fetchTimeout)
	defer cancel()
	fetched, err := j.fetch(fetchCtx)

	j.mu.Lock()
	defer j.mu.Unlock()
	j.fetching = nil
	j.triedAt = j.now()
	j.lastErr = err
	if err == nil {
		j.keys, j.fetchedAt = fetched, j.triedAt
	} else if len(j.keys) > 0 {
		j.logger.WarnContext(ctx, "fal JWKS fetch failed; using cached keys",
			slog.String("url", j.shown), slog.Time("fetched_at", j.fetchedAt), slog.String("error", err.Error()))
	}
}

var _ KeyRefresher = (*JWKS)(nil)

func (j *JWKS) shouldFetch(refresh bool) bool {
	now := j.now()
	if !j.triedAt.IsZero() && now.Sub(j.triedAt) < j.minRefreshInterval {
		return false
	}
	return refresh || len(j.keys) == 0 || now.Sub(j.fetchedAt) >= j.maxAge
}

func (j *JWKS) cachedLocked() ([]ed25519.PublicKey, error) {
	if len(j.keys) > 0 {
		return j.keys, nil
	}
	if j.lastErr != nil {
		return nil, j.lastErr
	}
	return nil, nil
}

func (j *JWKS) fetch(ctx context.Context) ([]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.httpClient.Do(req)
	if err != nil {
		// The client's *url.Error names the URL with its query.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			shown := *uerr
			shown.URL = j.shown
			err = &shown
		}
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: HTTP %d", j.shown, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", j.shown, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", j.shown, err)
	}
	return keys, nil
}

// parseJWKS returns the Ed25519 keys of a key set and skips any other entry.
// fal documents only "x", so a key without kty or crv is taken as Ed25519,
// and "x" may be base64url with or without padding.
func parseJWKS(data []byte) ([]ed25519.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode key set: %w", err)
	}

	var (
		keys    []ed25519.PublicKey
		skipped []string
	)
	for i, raw := range set.Keys {
		key, err := parseJWK(raw)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		// Taking an empty set would reject every webhook until the next
		// fetch; keeping the old keys is safer.
		return nil, noKeysError(skipped)
	}
	return keys, nil
}

// parseJWK returns the Ed25519 key of one key set entry, or why it is not one.
func parseJWK(raw json.RawMessage) (ed25519.PublicKey, error) {
	var jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
	}
	var typeErr *json.UnmarshalTypeError
	switch err := json.Unmarshal(raw, &jwk); {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return nil, fmt.Errorf("%s is a JSON %s, not a string", typeErr.Field, typeErr.Value)
	case err != nil:
		return nil, errors.New("is not a JSON object")
	case jwk.Kty != "" && jwk.Kty != "OKP":
		return nil, fmt.Errorf("kty is %s, not OKP", quoteShort(jwk.Kty))
	case jwk.Crv != "" && jwk.Crv != "Ed25519":
		return nil, fmt.Errorf("crv is %s, not Ed25519", quoteShort(jwk.Crv))
	case jwk.X == "":
		return nil, errors.New("x is missing")
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(jwk.X, "="))
	if err != nil {
		return nil, errors.New("x is not base64url")
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x is %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(key), nil
}

// maxSkippedReported bounds how many skipped entries a parseJWKS error
// names: the error is logged on every failed fetch, and a few reasons are
// enough to see what changed in fal's key set.
const maxSkippedReported = 3

// noKeysError says why a key set yielded no key: skipped has the reason for
// each entry.
func noKeysError(skipped []string) error {
	if len(skipped) == 0 {
		return errors.New(`key set has no Ed25519 keys: "keys" is empty or missing`)
	}
	reasons := strings.Join(skipped[:min(len(skipped), maxSkippedReported)], "; ")
	if more := len(skipped) - maxSkippedReported; more > 0 {
		reasons += fmt.Sprintf("; and %d more", more)
	}
	return fmt.Errorf("key set has no Ed25519 keys: %s", reasons)
}

// quoteShort quotes s, shortened so that a hostile key set or webhook
// header cannot make the error long.
func quoteShort(s string) string {
	const maxLen = 32
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "…"
	}
	return strconv.Quote(s)
}

// shownURL is raw without what may be a credential: user information,
// query and fragment.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "FAL_JWKS_URL (not a URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
