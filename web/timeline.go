package web

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/easelhq/easel/store"
)

// maxTimelineWebhooks bounds the webhooks one page lists; fal sends one or
// two, so more means someone is flooding the endpoint, and the first ones
// tell the story.
const maxTimelineWebhooks = 100

// timelineEntry is one thing that happened to a generation.
type timelineEntry struct {
	At     time.Time
	Title  string
	Detail string
	Tone   string // "ok", "bad" or "" (neutral): the entry's colour and icon
}

// buildTimeline merges the generation's own timestamps with the webhooks it
// received and the results Easel fetched from fal's queue instead
// (store.ListPolledResults), in the order they happened. The row keeps only
// the latest submission attempt, so retries show as one "submitting" entry
// that counts them.
func buildTimeline(g *store.Generation, webhooks []store.ReceivedWebhook, polled ...store.PolledResult) []timelineEntry {
	entries := []timelineEntry{{
		At: g.CreatedAt, Title: "Enqueued",
		Detail: fmt.Sprintf("by client %s, priority %d", g.Client, g.Priority),
	}}
	if g.RunAt != nil && g.RunAt.After(g.CreatedAt) {
		entries = append(entries, timelineEntry{At: *g.RunAt, Title: "Scheduled to start"})
	}
	if g.SubmittingAt != nil {
		detail := "calling fal's queue API"
		if g.Attempts > 1 {
			detail = fmt.Sprintf("attempt %d; earlier attempts did not reach a result", g.Attempts)
		}
		entries = append(entries, timelineEntry{At: *g.SubmittingAt, Title: "Submitting to fal", Detail: detail})
	}
	switch detail := "fal accepted the request"; {
	case g.SubmittedAt != nil:
		if g.FalRequestID != nil {
			detail = "fal request " + *g.FalRequestID
		}
		entries = append(entries, timelineEntry{At: *g.SubmittedAt, Title: "Submitted to fal", Detail: detail, Tone: "ok"})
	case g.SubmittingAt != nil && g.FinishedAt != nil && g.FalSubmissionsConfirmed > 0:
		// fal's answer to the submit came after the generation finished
		// (its webhook was faster), so submitted_at stays null: the call's
		// start is when fal got it, near enough.
		if g.FalRequestID != nil {
			detail = "fal request " + *g.FalRequestID
		}
		entries = append(entries, timelineEntry{At: *g.SubmittingAt, Title: "Submitted to fal",
			Detail: detail + "; fal's answer to the submit came after the result", Tone: "ok"})
	}
	// COMPLETED is said by the entry of the result that finished it.
	if g.FalStatus != nil && g.FalStatusAt != nil && *g.FalStatus != "COMPLETED" {
		entries = append(entries, falStatusEntry(g))
	}
	for _, w := range webhooks {
		entries = append(entries, webhookEntry(w))
	}
	for _, p := range polled {
		// One fetched again after the generation had finished changed
		// nothing, and says nothing of why it took so long.
		if p.Outcome == store.OutcomeApplied {
			entries = append(entries, polledEntry(p, webhooks))
		}
	}
	if g.FinishedAt != nil {
		entries = append(entries, finishedEntry(g))
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].At.Before(entries[j].At) })
	return entries
}

// falStatusEntry is what fal last said about the request: its answer to
// the submit, to the reconciler's poll, or to the status asked just before
// a cancel. The row keeps only the latest.
func falStatusEntry(g *store.Generation) timelineEntry {
	detail := *g.FalStatus
	if g.FalQueuePosition != nil {
		detail += fmt.Sprintf(", %d request(s) ahead", *g.FalQueuePosition)
	}
	return timelineEntry{At: *g.FalStatusAt, Title: "Status from fal", Detail: detail + " · fal's latest answer as Easel recorded it"}
}

// polledEntry is the result that finished the generation when Easel
// fetched it from fal's queue: it came late, since the reconciler asks fal
// only once no webhook has brought the result EASEL_POLL_AFTER after the
// submission, or when the webhook carried none. A webhook of the request
// that came after it shows that fal's webhook was late rather than lost.
func polledEntry(p store.PolledResult, webhooks []store.ReceivedWebhook) timelineEntry {
	detail := "no webhook within EASEL_POLL_AFTER"
	late := false
	for _, w := range webhooks {
		if !w.SignatureValid || w.FalRequestID != p.FalRequestID {
			continue
		}
		switch {
		case w.Outcome == store.OutcomeDeferred && !w.ReceivedAt.After(p.FetchedAt):
			detail = "fal's webhook carried no result"
		case w.Outcome == store.OutcomeDuplicate && w.ReceivedAt.After(p.FetchedAt):
			late = true
		}
	}
	if late {
		detail += "; fal's webhook came after it: late, not lost"
	}
	return timelineEntry{At: p.FetchedAt, Title: "Result fetched from fal by polling", Detail: detail}
}

func webhookEntry(w store.ReceivedWebhook) timelineEntry {
	e := timelineEntry{At: w.ReceivedAt, Title: "Webhook received"}
	var parts []string
	if w.SignatureValid {
		parts = append(parts, "signature valid")
	} else {
		e.Tone = "bad"
		sig := "signature invalid"
		if w.SignatureError != "" {
			sig += " (" + w.SignatureError + ")"
		}
		parts = append(parts, sig)
	}
	parts = append(parts, "outcome "+string(w.Outcome), formatBytes(int64(w.BodySize)))
	if w.SignatureValid && w.Outcome == store.OutcomeApplied {
		e.Tone = "ok"
	}
	e.Detail = strings.Join(parts, " · ")
	return e
}

func finishedEntry(g *store.Generation) timelineEntry {
	e := timelineEntry{At: *g.FinishedAt}
	switch g.Status {
	case store.StatusCompleted:
		e.Title, e.Tone = "Completed", "ok"
		if g.ImageCount != nil {
			e.Detail = fmt.Sprintf("%d image(s)", *g.ImageCount)
		}
	case store.StatusCancelled:
		e.Title = "Cancelled" // asked for, so neutral rather than bad
		e.Detail = deref(g.ErrorMessage)
	default:
		e.Title, e.Tone = "Failed", "bad"
		e.Detail = joinNonEmpty(": ", deref(g.ErrorCode), deref(g.ErrorMessage))
	}
	return e
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
