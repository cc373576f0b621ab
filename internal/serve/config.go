package serve

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
)

// Role selects what one easel serve process runs.
type Role string

const (
	RoleAll    Role = "all"    // HTTP API, webhook receiver and workers
	RoleAPI    Role = "api"    // HTTP API and webhook receiver
	RoleWorker Role = "worker" // River workers (and health endpoints)
)

// Config is easel serve's configuration, read from the environment.
type Config struct {
	DatabaseURL string
	Addr        string
	// PublicURL is the base URL fal calls back (EASEL_PUBLIC_URL). Run
	// accepts it empty only while fal is local (no FalKey, or FalQueueURL
	// on loopback) and Role is not RoleWorker, and then uses its own
	// listener's address.
	PublicURL   string
	FalKey      string // empty: run the in-process simulator; see checkFalKey
	FalQueueURL string
	FalJWKSURL  string
	// FalMediaExpiration asks fal to delete each submission's output
	// images for good this long after it (FAL_MEDIA_EXPIRATION, whole
	// seconds); 0 sends nothing, leaving the fal account's media
	// retention. See fal.ClientConfig.MediaExpiration.
	FalMediaExpiration time.Duration
	// FalDisableStoreIO asks fal not to keep each submission's JSON
	// (FAL_STORE_IO=false). Negated, as fal.ClientConfig.DisableStoreIO,
	// so that a Config written without it, as tests and benchmarks write
	// one, keeps fal's default rather than change it unasked.
	FalDisableStoreIO bool
	MaxInflight       int
	Workers           int
	// DBMaxConns is the connection pool's size (EASEL_DB_MAX_CONNS); 0
	// means DefaultDBMaxConns(Workers).
	DBMaxConns int
	// ClientMaxInflight caps each client's generations in flight; 0 means
	// only MaxInflight applies (EASEL_CLIENT_MAX_INFLIGHT).
	ClientMaxInflight int
	// ClientMaxPending caps each client's unfinished (queued or submitted)
	// generations at enqueue over HTTP; 0 means no cap
	// (EASEL_CLIENT_MAX_PENDING). See jobs.ErrTooManyPending.
	ClientMaxPending int
	// PollAfter, Timeout and RescueAfter are EASEL_POLL_AFTER, EASEL_TIMEOUT
	// and EASEL_RESCUE_AFTER; see jobs.Config.
	PollAfter   time.Duration
	Timeout     time.Duration
	RescueAfter time.Duration
	Role        Role
	// ShutdownDelay is how long a shutdown serves on, /readyz answering
	// 503, before it stops the HTTP server (EASEL_SHUTDOWN_DELAY); 0 stops
	// it at once. See shutdownDelay.
	ShutdownDelay time.Duration
	// Simulator configures the in-process simulator used when FAL_KEY is
	// empty; nil means SimulatorConfig. Tests and benchmarks set it.
	Simulator *falsim.Config
	// CallbackSecret holds the master secrets that each client's callback
	// secret is derived from (EASEL_CALLBACK_SECRET: whsec_<base64>
	// secrets separated by spaces, the current one first; see
	// callbacks.ParseSecrets). Empty: callback_url is refused at enqueue.
	CallbackSecret string
	// AllowPrivateCallbacks lets callbacks go to every address, loopback
	// and private ones included (EASEL_ALLOW_PRIVATE_CALLBACKS=true).
	AllowPrivateCallbacks bool
	// AllowedCallbackNets are the non-public ranges callbacks may go to
	// besides public addresses (EASEL_ALLOW_PRIVATE_CALLBACKS as a list of
	// CIDRs).
	AllowedCallbackNets []netip.Prefix
	// CallbackWorkers bounds concurrent callback deliveries
	// (EASEL_CALLBACK_WORKERS); 0 means jobs.DefaultCallbackWorkers.
	CallbackWorkers int
	// Tracing exports traces over OTLP/HTTP as the standard OTEL_*
	// variables configure; on when they name an endpoint.
	Tracing bool
	// TracerProvider, when set, receives the traces instead of an OTLP
	// exporter. Tests set it.
	TracerProvider trace.TracerProvider
}

// DefaultDatabaseURL is DATABASE_URL's default.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/easel?sslmode=disable"

// DefaultAddr is EASEL_ADDR's default, the address easel serve listens on.
const DefaultAddr = "127.0.0.1:8080"

// DefaultClientMaxPending is EASEL_CLIENT_MAX_PENDING's default: far above
// any honest backlog, far below what fills a disk.
const DefaultClientMaxPending = 10000

// ConfigFromEnv reads the variables of DESIGN.md through getenv. A bad value
// yields an error naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		DatabaseURL: get("DATABASE_URL", DefaultDatabaseURL),
		Addr:        get("EASEL_ADDR", DefaultAddr),
		PublicURL:   strings.TrimRight(get("EASEL_PUBLIC_URL", ""), "/"),
		// Trimmed like every other variable: a secret file's trailing
		// newline would otherwise break every request to fal.
		FalKey:      strings.TrimSpace(getenv("FAL_KEY")),
		FalQueueURL: strings.TrimRight(get("FAL_QUEUE_URL", "https://queue.fal.run"), "/"),
		FalJWKSURL:  get("FAL_JWKS_URL", fal.DefaultJWKSURL),
		Role:        Role(get("EASEL_ROLE", string(RoleAll))),
	}
	var errs []error
	if err := checkDatabaseURL(cfg.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if err := checkFalKey(getenv("FAL_KEY"), cfg.FalKey); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_ADDR: %q is not host:port", cfg.Addr))
	}
	for name, value := range map[string]string{"EASEL_PUBLIC_URL": cfg.PublicURL, "FAL_QUEUE_URL": cfg.FalQueueURL, "FAL_JWKS_URL": cfg.FalJWKSURL} {
		if value == "" {
			continue
		}
		if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, value))
		}
	}
	errs = append(errs, cfg.readFalRetentionEnv(get)...)
	var err error
	if cfg.MaxInflight, err = positiveInt(get("FAL_MAX_INFLIGHT", "32")); err != nil {
		errs = append(errs, fmt.Errorf("FAL_MAX_INFLIGHT: %w", err))
	}
	if cfg.Workers, err = positiveInt(get("EASEL_WORKERS", "16")); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_WORKERS: %w", err))
	} else if cfg.Workers > river.QueueNumWorkersMax {
		// River refuses more when the client is created, naming neither
		// the variable nor its limit.
		errs = append(errs, fmt.Errorf("EASEL_WORKERS: %d is more than River's maximum of %d workers for a queue", cfg.Workers, river.QueueNumWorkersMax))
	}
	dbConns := get("EASEL_DB_MAX_CONNS", "0")
	if cfg.DBMaxConns, err = strconv.Atoi(dbConns); err != nil || cfg.DBMaxConns < 0 {
		errs = append(errs, fmt.Errorf("EASEL_DB_MAX_CONNS: %q is not a non-negative integer", dbConns))
	} else if cfg.DBMaxConns > math.MaxInt32 {
		// pgxpool's MaxConns is an int32: more would wrap around.
		errs = append(errs, fmt.Errorf("EASEL_DB_MAX_CONNS: %d is more than the pool's maximum of %d", cfg.DBMaxConns, math.MaxInt32))
	}
	clientMax := get("EASEL_CLIENT_MAX_INFLIGHT", "0")
	if cfg.ClientMaxInflight, err = strconv.Atoi(clientMax); err != nil || cfg.ClientMaxInflight < 0 {
		errs = append(errs, fmt.Errorf("EASEL_CLIENT_MAX_INFLIGHT: %q is not a non-negative integer", clientMax))
	}
	maxPending := get("EASEL_CLIENT_MAX_PENDING", strconv.Itoa(DefaultClientMaxPending))
	if cfg.ClientMaxPending, err = strconv.Atoi(maxPending); err != nil || cfg.ClientMaxPending < 0 {
		errs = append(errs, fmt.Errorf("EASEL_CLIENT_MAX_PENDING: %q is not a non-negative integer", maxPending))
	}
	for _, d := range []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"EASEL_POLL_AFTER", jobs.DefaultPollAfter, &cfg.PollAfter},
		{"EASEL_TIMEOUT", jobs.DefaultTimeout, &cfg.Timeout},
		{"EASEL_RESCUE_AFTER", jobs.DefaultRescueAfter, &cfg.RescueAfter},
	} {
		v := get(d.name, d.def.String())
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 90s or 2m", d.name, v))
		}
	}
	shutdownDelay := get("EASEL_SHUTDOWN_DELAY", "0s")
	if cfg.ShutdownDelay, err = time.ParseDuration(shutdownDelay); err != nil || cfg.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("EASEL_SHUTDOWN_DELAY: %q is not a duration of zero or more such as 0s or 10s", shutdownDelay))
	}
	errs = append(errs, cfg.checkDurations()...)
	if err := cfg.Role.validate(); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_ROLE: %w", err))
	}
	errs = append(errs, cfg.readCallbackEnv(get)...)
	if cfg.Tracing, err = tracingFromEnv(get); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

func (r Role) validate() error {
	switch r {
	case RoleAll, RoleAPI, RoleWorker:
		return nil
	}
	return fmt.Errorf("%q is not one of all, api, worker", string(r))
}

// Set implements flag.Value so --role can override EASEL_ROLE.
func (r *Role) Set(s string) error {
	if err := Role(s).validate(); err != nil {
		return err
	}
	*r = Role(s)
	return nil
}

func (r *Role) String() string { return string(*r) }

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return n, nil
}

func (r Role) runsHTTPAPI() bool { return r == RoleAll || r == RoleAPI }
func (r Role) runsWorkers() bool { return r == RoleAll || r == RoleWorker }
