package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/store"
)

// touchInterval bounds how often a key's last_used_at is written: it tells
// people which keys are still in use, which needs no per-request precision.
const touchInterval = time.Minute

// AuthConfig configures Auth.
type AuthConfig struct {
	// ListenAddr is the address Easel accepts requests on. Only on a
	// loopback address, only when Simulated, and only while no API key was
	// ever created, are requests without a key accepted.
	ListenAddr net.Addr
	// ConfiguredAddr, when set, is the address Easel was told to listen on
	// (EASEL_ADDR), which messages name: the listener's own address can
	// read differently ([::]:8080 for 0.0.0.0:8080).
	ConfiguredAddr string
	// Simulated reports that every generation the API enqueues is submitted
	// to easel serve's in-process fal simulator and nowhere else: FAL_KEY is
	// unset and the same process runs the workers. Only then may the API be
	// open, since a keyless request then costs nothing. The listen address
	// alone cannot tell: whatever carries fal's webhooks in to a real
	// deployment (a tunnel, a reverse proxy on the host) connects from
	// loopback too, and would let anyone spend FAL_KEY.
	Simulated bool
	Logger    *slog.Logger
	// KeyCacheTTL, when positive, lets Auth admit a key it found valid less
	// than this long ago without looking it up again, so that a busy caller
	// costs one lookup per TTL instead of one per request. A revoked key
	// then keeps working for up to this long on a process that admitted it
	// just before. Zero looks every key up. easel serve uses
	// DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
}

// DefaultKeyCacheTTL is how long easel serve trusts a key it looked up:
// revoking a key takes effect within it. A lookup per request was a round
// trip and a transaction of its own in every enqueue, about 8% of
// throughput in easel bench (docs/BENCHMARKS.md).
const DefaultKeyCacheTTL = time.Second

// keyCacheSweep is the size at which the key cache drops expired entries.
// Only valid keys are cached, so it holds at most the keys in use.
const keyCacheSweep = 1024

// Auth authenticates callers by API key (`Authorization: Bearer <key>`).
//
// So that the one-command quick start needs no key, a server listening on a
// loopback address with the in-process simulator (AuthConfig.Simulated) is
// open (client "anonymous") until the first key is created, to requests
// addressed to it by a loopback name and not sent by another site's page
// (open_request.go). Whether a key exists is checked on each keyless
// request, not only at start-up, so `easel keys create` closes a running
// server at once; once a key has been seen the check stops for good. A
// revoked key still counts: revoking every key locks the API rather than
// opening it. Otherwise keys are always required: on a loopback address
// Auth starts without one and refuses every request until one exists, and on
// any other address NewAuth refuses to start without one.
//
// A request with a key costs one lookup by the key's hash, unless the key
// was found valid less than AuthConfig.KeyCacheTTL ago. Keys are never
// logged, and the cache holds only their hashes.
type Auth struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	keyless bool        // loopback and simulated: open until a key exists
	closed  atomic.Bool // a key exists: every request needs one

	keyTTL time.Duration
	// now is the clock of the key cache and of the touch of last_used_at:
	// time.Now, which tests replace (SetAuthClock) to move time by hand.
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]cachedKey // by SHA-256 of the key
}

// cachedKey is a key found valid, and when.
type cachedKey struct {
	name string
	at   time.Time
}

// NewAuth returns an Auth. It fails when no key exists and ListenAddr is not
// a loopback address, which would leave the API open to the network.
func NewAuth(ctx context.Context, pool *pgxpool.Pool, cfg AuthConfig) (*Auth, error) {
	loopback := isLoopback(cfg.ListenAddr)
	a := &Auth{pool: pool, logger: cfg.Logger, keyless: loopback && cfg.Simulated,
		keyTTL: cfg.KeyCacheTTL, now: time.Now, keys: make(map[string]cachedKey)}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	exists, err := store.AnyAPIKeys(ctx, pool)
	if err != nil {
		return nil, err
	}
	switch {
	case exists:
		a.closed.Store(true)
	case !loopback:
		return nil, fmt.Errorf("no API key exists and %s is not a loopback address, so /v1 would be open to anyone: "+
			"create a key first with `easel keys create NAME`, or listen on 127.0.0.1", describeAddr(cfg))
	case !cfg.Simulated:
		a.logger.Warn("no API key exists, so /v1, the gallery and River UI refuse every request: create one with `easel keys create NAME`; "+
			"requests without a key are accepted only by easel serve with its in-process fal simulator (FAL_KEY unset, --role all), "+
			"where they cost nothing", "addr", describeAddr(cfg))
	default:
		a.logger.Warn("no API key exists: /v1, the gallery and River UI accept requests without a key, addressed to localhost or a loopback address "+
			"and not sent by another site's page, because Easel listens on a loopback address and submits only to its in-process fal simulator; "+
			"`easel keys create NAME` creates the first key and then keys are required", "addr", describeAddr(cfg))
	}
	return a, nil
}

// describeAddr names the address Easel listens on as its operator gave it,
// if known, saying "all interfaces" for an unspecified host, and the
// listener's address when it reads differently otherwise (a host name, or
// port 0).
func describeAddr(cfg AuthConfig) string {
	listening := "<nil>"
	if cfg.ListenAddr != nil {
		listening = cfg.ListenAddr.String()
	}
	name := cmp.Or(cfg.ConfiguredAddr, listening)
	if tcp, ok := cfg.ListenAddr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return name + " (all interfaces)"
	}
	if name != listening {
		return name + " (listening on " + listening + ")"
	}
	return name
}

// RequireKey is Echo middleware that admits a request with a valid key, or
// with no key while the API is open, and records the caller's name for
// ClientName. Anything else is answered 401.
func (a *Auth) RequireKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, err := a.authenticate(c.Request())
		var apiErr *apierror.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="easel"`)
		}
		if err != nil {
			return err
		}
		c.Set(clientKey, name)
		return next(c)
	}
}

func (a *Auth) authenticate(req *http.Request) (string, error) {
	ctx := req.Context()
	authorizations := req.Header.Values(echo.HeaderAuthorization)
	// Which of two credentials counts is a guess a proxy on the way may
	// make differently, and a request that carries a bad one is wrong
	// however it is read: refuse rather than let the first win.
	if len(authorizations) > 1 {
		return "", unauthorized("the Authorization header must be given once: Bearer followed by one API key")
	}
	var authorization string
	if len(authorizations) == 1 {
		authorization = authorizations[0]
	}
	if authorization == "" {
		return a.anonymous(req)
	}
	scheme, token, _ := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", unauthorized("the Authorization header must be Bearer followed by an API key")
	}
	if !wellFormedKey(token) {
		return "", unauthorized("invalid or revoked API key")
	}
	hash := hashKey(token)
	if name, ok := a.cached(hash); ok {
		return name, nil
	}
	key, err := store.GetActiveAPIKey(ctx, a.pool, hash)
	if errors.Is(err, store.ErrNotFound) {
		return "", unauthorized("invalid or revoked API key")
	}
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	a.closed.Store(true)
	if key.LastUsedAt == nil || a.now().Sub(*key.LastUsedAt) >= touchInterval {
		if err := store.TouchAPIKey(ctx, a.pool, key.ID, touchInterval); err != nil {
			a.logger.Warn("record API key use", "key_name", key.Name, "error", err)
		}
	}
	a.cache(hash, key.Name)
	return key.Name, nil
}

// cached returns the name of the key with hash if it was found valid less
// than keyTTL ago.
func (a *Auth) cached(hash []byte) (string, bool) {
	if a.keyTTL <= 0 {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.keys[string(hash)]
	if !ok || a.now().Sub(k.at) >= a.keyTTL {
		return "", false
	}
	return k.name, true
}

func (a *Auth) cache(hash []byte, name string) {
	if a.keyTTL <= 0 {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.keys) >= keyCacheSweep {
		for h, k := range a.keys {
			if now.Sub(k.at) >= a.keyTTL {
				delete(a.keys, h)
			}
		}
	}
	a.keys[string(hash)] = cachedKey{name: name, at: now}
}

// anonymous admits a request without a key while the API is open, if it
// comes from where the open API may be used (checkOpenRequest), and
// otherwise says what is missing: a key, or any key at all.
func (a *Auth) anonymous(req *http.Request) (string, error) {
	exists, err := a.keyExists(req.Context())
	switch {
	case err != nil:
		return "", err
	case exists:
		return "", unauthorized("an API key is required: send it in the header Authorization: Bearer followed by the key")
	case !a.keyless:
		return "", unauthorized("an API key is required, and none exists yet: create one with `easel keys create NAME`, " +
			"then send it in the header Authorization: Bearer followed by the key")
	}
	if err := checkOpenRequest(req); err != nil {
		return "", err
	}
	return AnonymousClient, nil
}

// keyExists reports whether an API key was ever created. Once one has been
// seen it stops asking: keys are never deleted.
func (a *Auth) keyExists(ctx context.Context) (bool, error) {
	if a.closed.Load() {
		return true, nil
	}
	exists, err := store.AnyAPIKeys(ctx, a.pool)
	if err != nil {
		return false, fmt.Errorf("authenticate: %w", err)
	}
	if exists && a.closed.CompareAndSwap(false, true) && a.keyless {
		a.logger.Info("an API key exists: /v1, the gallery and River UI now require one")
	}
	return exists, nil
}

func unauthorized(message string) *apierror.Error {
	return apierror.New(http.StatusUnauthorized, "unauthorized", message)
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
