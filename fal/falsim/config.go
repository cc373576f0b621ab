package falsim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	defaultWebhookTimeout = 15 * time.Second
	defaultWebhookRetries = 10
	defaultUserID         = "falsim-user"
	defaultRetention      = time.Hour
)

// Config configures a Sim. The zero value is a well-behaved fal: instant
// results, no faults, unlimited concurrency.
type Config struct {
	// Seed makes fault and run-time choices deterministic (see the package
	// documentation) and derives the webhook signing key.
	Seed int64

	// Latency is the distribution of each request's run time: how long it
	// stays IN_PROGRESS, reported as metrics.inference_time and
	// timings.inference. Time spent IN_QUEUE comes on top of it, waiting for
	// a concurrency slot. The zero value completes requests at once.
	Latency Latency

	// MaxConcurrency caps the number of requests IN_PROGRESS at once; the
	// others wait IN_QUEUE in submission order. Zero means unlimited.
	MaxConcurrency int

	// Fault rates, each the probability in [0, 1] that one submission gets
	// the fault:
	//
	//   - SubmitErrorRate: the submit is answered with a 5xx and not queued.
	//   - RateLimitRate: the submit is answered 429 with Retry-After and not queued.
	//   - FailRate: the request completes with a 422 {"detail": [...]} error.
	//   - PayloadErrorRate: the webhook carries "payload": null and a
	//     payload_error; the result stays pollable.
	//   - BounceRate: the request goes IN_PROGRESS -> IN_QUEUE once before it runs again.
	//   - NSFWRate: per image, has_nsfw_concepts is true (and the image is
	//     black while enable_safety_checker is on, as fal blanks it).
	//   - NSFWUnknownRate: the output's has_nsfw_concepts says nothing of
	//     any image: it is missing, null, one entry short of the images, or
	//     lists strings ("true", "false") rather than booleans, one of the
	//     four drawn per submission. The images are as NSFWRate made them,
	//     blanked or not: only the flags are lost.
	//   - WebhookDropRate: the webhook is never delivered.
	//   - WebhookDuplicateRate: an acknowledged webhook is delivered once more.
	SubmitErrorRate, RateLimitRate, FailRate, PayloadErrorRate, BounceRate, NSFWRate float64
	NSFWUnknownRate, WebhookDropRate, WebhookDuplicateRate                           float64

	// WebhookDelay delays the first delivery attempt after completion.
	WebhookDelay time.Duration

	// WebhookTimeout bounds each delivery attempt. Zero means 15s, as fal.
	WebhookTimeout time.Duration

	// WebhookRetries is how many times a failed delivery is retried. Zero
	// means 10, as fal; negative disables retries.
	WebhookRetries int

	// TimeScale divides the webhook retry schedule and nothing else; values
	// above 1 compress it. Zero means 1.
	TimeScale float64

	// UserID is sent as X-Fal-Webhook-User-Id. Empty means "falsim-user".
	UserID string

	// Retention is how long a finished request is kept, counted from when
	// it completed and its webhook deliveries, if any, ended. After it, its
	// status, result and cancel answer 404 {"status": "NOT_FOUND"}, as fal
	// answers for an id it does not know, and its fal_webhook URL no longer
	// counts towards Stats.DuplicateSubmissions. It bounds the memory of a
	// long-running simulator. Image files are drawn from their paths alone
	// and are served regardless. Zero means one hour.
	Retention time.Duration

	// FilesURL is the base URL of the image URLs in results, an absolute
	// http(s) URL: an image is at FilesURL/{W}x{H}/{variant}/{name}, the
	// path FilesHandler serves. Empty means the simulator's own /files/ at
	// the address the submitting client reached it at. Set it when whoever
	// loads the images, later or elsewhere, cannot count on that address:
	// easel serve points it at its own listener, so that stored URLs
	// outlive the simulator's ephemeral loopback port.
	FilesURL string

	// Logger receives the simulator's logs. Nil discards them.
	Logger *slog.Logger

	// HTTPClient delivers webhooks. Nil means a client that does not follow
	// redirects, so a 3xx counts as a failed delivery.
	HTTPClient *http.Client

	// OnSubmit, when set, is called with the request id and the fal_webhook
	// URL of each submission the queue accepts, as it accepts it, before
	// the submitter has its answer. It must be quick and safe for
	// concurrent use. easel bench times "fal accepted the submission" with
	// it.
	OnSubmit func(requestID, webhookURL string)
}

// withDefaults returns c with zero values replaced by their documented defaults.
func (c Config) withDefaults() Config {
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = defaultWebhookTimeout
	}
	switch {
	case c.WebhookRetries == 0:
		c.WebhookRetries = defaultWebhookRetries
	case c.WebhookRetries < 0:
		c.WebhookRetries = 0
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.UserID == "" {
		c.UserID = defaultUserID
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	c.FilesURL = strings.TrimRight(c.FilesURL, "/")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	rates := []struct {
		name string
		v    float64
	}{
		{"SubmitErrorRate", c.SubmitErrorRate},
		{"RateLimitRate", c.RateLimitRate},
		{"FailRate", c.FailRate},
		{"PayloadErrorRate", c.PayloadErrorRate},
		{"BounceRate", c.BounceRate},
		{"NSFWRate", c.NSFWRate},
		{"NSFWUnknownRate", c.NSFWUnknownRate},
		{"WebhookDropRate", c.WebhookDropRate},
		{"WebhookDuplicateRate", c.WebhookDuplicateRate},
	}
	for _, r := range rates {
		if err := checkRate(r.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %w", r.name, err))
		}
	}
	if err := c.Latency.validate(); err != nil {
		errs = append(errs, fmt.Errorf("Latency: %w", err))
	}
	if err := checkNotNegative(c.MaxConcurrency); err != nil {
		errs = append(errs, fmt.Errorf("MaxConcurrency %w", err))
	}
	if err := checkNotNegative(c.WebhookDelay); err != nil {
		errs = append(errs, fmt.Errorf("WebhookDelay %w", err))
	}
	if err := checkNotNegative(c.WebhookTimeout); err != nil {
		errs = append(errs, fmt.Errorf("WebhookTimeout %w", err))
	}
	if err := checkNotNegative(c.TimeScale); err != nil {
		errs = append(errs, fmt.Errorf("TimeScale %w", err))
	}
	if err := checkFilesURL(c.FilesURL); err != nil {
		errs = append(errs, fmt.Errorf("FilesURL %w", err))
	}
	if err := checkNotNegative(c.Retention); err != nil {
		errs = append(errs, fmt.Errorf("Retention %w", err))
	}
	return errors.Join(errs...)
}

// The checks below are shared by Config's validation and the flags, which
// prefix their errors with the field's or the flag's name.

func checkRate(v float64) error {
	// Written to reject NaN too.
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("%v is outside [0, 1]", v)
	}
	return nil
}

func checkNotNegative[T int | float64 | time.Duration](v T) error {
	if v != v {
		return errors.New("NaN is not a number")
	}
	if v < 0 {
		return fmt.Errorf("%v is negative", v)
	}
	return nil
}

// checkFilesURL accepts "", which means the default.
func checkFilesURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL without query or fragment", raw)
	}
	return nil
}

// Summary describes the simulator's behaviour on one line, for start-up logs.
func (c Config) Summary() string {
	c = c.withDefaults()
	concurrency := "unlimited"
	if c.MaxConcurrency > 0 {
		concurrency = fmt.Sprint(c.MaxConcurrency)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d latency=%s max-concurrency=%s", c.Seed, c.Latency, concurrency)
	fmt.Fprintf(&b, " submit-5xx=%s 429=%s fail=%s payload-error=%s bounce=%s nsfw=%s nsfw-unknown=%s",
		percent(c.SubmitErrorRate), percent(c.RateLimitRate), percent(c.FailRate),
		percent(c.PayloadErrorRate), percent(c.BounceRate), percent(c.NSFWRate), percent(c.NSFWUnknownRate))
	fmt.Fprintf(&b, " webhook-drop=%s webhook-duplicate=%s webhook-delay=%s webhook-timeout=%s webhook-retries=%d time-scale=%g retention=%s",
		percent(c.WebhookDropRate), percent(c.WebhookDuplicateRate), c.WebhookDelay,
		c.WebhookTimeout, c.WebhookRetries, c.TimeScale, c.Retention)
	return b.String()
}

func percent(rate float64) string { return fmt.Sprintf("%.4g%%", rate*100) }
