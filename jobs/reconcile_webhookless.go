package jobs

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/store"
)

// webhooklessWarnEvery is how often, at most, a process's reconciler warns
// that it applied results no webhook delivered.
const webhooklessWarnEvery = time.Minute

// appliedMessage is the reconciler's line for each result it applies.
const appliedMessage = "reconciler applied fal's result"

// webhooklessResults counts the results the reconciler applied to
// generations that had received no webhook yet. One now and then is a
// webhook fal failed to deliver in time. One after another means either
// that fal's webhooks are late (fal's runs finishing just before
// EASEL_POLL_AFTER, or deliveries fal had to retry), which arrive after
// the poll as duplicates, or that they do not get in at all
// (EASEL_PUBLIC_URL wrong or unreachable from fal, or their signatures
// refused), which nothing else logs: each generation then holds its
// FAL_MAX_INFLIGHT slot for EASEL_POLL_AFTER before its result is polled,
// throttling throughput. When this line is logged the two look alike, so
// the warning says how to tell them apart. The first such result of a
// process, and then the first a minute or more after each warning, is
// logged at WARN with the count since the warning before.
type webhooklessResults struct {
	throttle *logthrottle.Throttle
}

// newWebhooklessResults returns a webhooklessResults; opts are for tests'
// clocks. Its one key is never forgotten.
func newWebhooklessResults(opts ...logthrottle.Option) *webhooklessResults {
	return &webhooklessResults{throttle: logthrottle.New(webhooklessWarnEvery, 0, opts...)}
}

// add counts one result applied without a webhook and reports whether to
// warn about it, with the results counted since the last warning, this one
// included, and when the earliest of them was applied.
func (r *webhooklessResults) add() (warn bool, count int, since time.Time) {
	count, since, warn = r.throttle.Allow("")
	return warn, count, since
}

// logApplied logs the result the reconciler applied to gen, read before it
// was applied, with the outcome; finished says whether it finished gen.
// Every generation gets its line; one that finished a generation no webhook
// had reached yet is a WARN saying what to check, when webhookless allows.
func (w *ReconcileWorker) logApplied(logger *slog.Logger, gen *store.Generation, outcome store.WebhookOutcome, finished bool) {
	args := []any{"outcome", string(outcome), "webhook_received", gen.LastWebhookAt != nil}
	if !finished || gen.LastWebhookAt != nil {
		logger.Info(appliedMessage, args...)
		return
	}
	warn, count, since := w.webhookless.add()
	if !warn {
		logger.Info(appliedMessage, args...)
		return
	}
	webhookURL := w.publicURL + "/webhooks/fal/{id}"
	logger.Warn(appliedMessage, append(args,
		"results_without_webhook", count, "counted_since", since, "webhook_url", webhookURL,
		"warning", fmt.Sprintf("no webhook from fal had reached Easel for %d result(s) applied by polling since %s, "+
			"each generation holding its FAL_MAX_INFLIGHT slot until polled EASEL_POLL_AFTER (%s) after its submission. "+
			"The webhooks are late, or never arrive. Late ones arrive after the poll, recorded with outcome duplicate: "+
			"easel_webhooks_received_total{outcome=\"duplicate\"} then rises about as fast as easel_results_applied_total{source=\"reconciler\"}, "+
			"and the gallery's page of such a generation shows a webhook after \"Result fetched from fal by polling\". "+
			"Nothing is lost then, and polling got those results no later than their webhooks would have: "+
			"if fal's runs take about EASEL_POLL_AFTER, raising it above them spares those polls; "+
			"deliveries fal had to retry come late too (outcomes keys_unavailable or not_recorded, or a proxy in front of Easel failing them). "+
			"If none arrive, check that fal can reach EASEL_PUBLIC_URL's webhook URL, <EASEL_PUBLIC_URL>/webhooks/fal/{id} (here %s): "+
			"a GET to it from outside (curl -si) answering 405 means it is reachable (a POST would count as a bad_signature webhook); if it is, fal's webhooks arrive with signatures Easel refuses: "+
			"look for \"webhook rejected\" lines and check FAL_JWKS_URL",
			count, since.Format(time.RFC3339), w.pollAfter, webhookURL))...)
}

// loggablePublicURL is EASEL_PUBLIC_URL as the log may show it: without the
// trailing slash, and with the password of any user information hidden.
func loggablePublicURL(raw string) string {
	raw = strings.TrimRight(raw, "/")
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}
