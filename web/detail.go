package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

type detailPage struct {
	chrome
	ID        string
	URL       string
	Status    store.Status
	Pending   bool
	StateURL  string
	Client    string
	CreatedAt time.Time
	Heading   string // the prompt, shortened; Prompt is all of it
	Prompt    string
	Negative  string
	Params    []field
	Prompts   []imagePrompt
	InputJSON string
	Metadata  string // indented JSON; empty when {}
	Images    []imageView
	Timeline  []timelineEntry
	Truncated bool // the timeline lists only the first maxTimelineWebhooks webhooks
	Timings   []field
	Fal       []field
	Error     *errorView
	Cancelled *cancelView

	// FalStatus and FalQueuePosition are what fal last said of the
	// request ("" for nothing), which the script reloads on a change of.
	FalStatus, FalQueuePosition string
}

// field is one labelled value of a description list.
type field struct{ Label, Value string }

type imagePrompt struct {
	Number         int
	URL            string // abbreviated when a data: URI
	Link           bool   // URL is an http(s) URL worth linking to
	Type           string
	Weight, StopAt float64
}

type imageView struct {
	store.Image
	Number int
	Alt    string
}

type errorView struct {
	Code, Message string
	Retrying      bool // the generation is still pending: the submit job will try again
}

// cancelView is a cancelled generation's ending: someone asked for it, so
// the page shows it as no error.
type cancelView struct {
	Message string // what Easel or fal said of the cancel; may be empty
}

func (h *Handler) detail(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		// Quoted, escaped as Go does: the id is whatever the URL held, NUL
		// and invalid UTF-8 included.
		return h.renderError(c, http.StatusNotFound, fmt.Sprintf("There is no generation %q.", c.Param("id")))
	}
	ctx := c.Request().Context()
	g, err := store.GetGeneration(ctx, h.pool, id)
	h.noteDatabase(err)
	if errors.Is(err, store.ErrNotFound) {
		return h.renderError(c, http.StatusNotFound, "There is no generation "+id.String()+".")
	}
	if err != nil {
		return h.serverError(c, err)
	}
	images, err := store.ListImages(ctx, h.pool, id)
	if err != nil {
		return h.serverError(c, err)
	}
	webhooks, err := store.ListReceivedWebhooks(ctx, h.pool, id, maxTimelineWebhooks+1)
	if err != nil {
		return h.serverError(c, err)
	}
	polled, err := store.ListPolledResults(ctx, h.pool, id)
	if err != nil {
		return h.serverError(c, err)
	}
	view := newDetailPage(g, images, webhooks, polled)
	view.chrome = chromeOf(c, "Generation "+id.String())
	return h.render(c, http.StatusOK, "detail", view)
}

func newDetailPage(g *store.Generation, images []store.Image, webhooks []store.ReceivedWebhook, polled []store.PolledResult) detailPage {
	id := g.ID.String()
	v := detailPage{
		ID: id, URL: "/generations/" + id, Status: g.Status, Pending: !g.Status.Terminal(), StateURL: "/generations/" + id + "/state",
		Client: g.Client, CreatedAt: g.CreatedAt,
	}
	if len(webhooks) > maxTimelineWebhooks {
		webhooks, v.Truncated = webhooks[:maxTimelineWebhooks], true
	}
	v.Timeline = buildTimeline(g, webhooks, polled...)
	if g.FalStatus != nil {
		v.FalStatus = *g.FalStatus
	}
	if g.FalQueuePosition != nil {
		v.FalQueuePosition = fmt.Sprint(*g.FalQueuePosition)
	}

	// The stored input is fal's input with every default applied; a lenient
	// decode is enough to show it.
	var in fal.ImagePromptInput
	if err := json.Unmarshal(g.Input, &in); err == nil {
		v.Prompt, v.Negative = in.Prompt, in.NegativePrompt
		v.Heading = shorten(in.Prompt, maxTitleRunes)
		v.Params = inputFields(g, &in)
		for i, p := range []*fal.ImagePrompt{&in.ImagePrompt1, in.ImagePrompt2, in.ImagePrompt3, in.ImagePrompt4} {
			if p != nil && p.ImageURL != "" {
				v.Prompts = append(v.Prompts, imagePrompt{Number: i + 1, URL: abbreviate(p.ImageURL), Link: isHTTPURL(p.ImageURL),
					Type: p.Type, Weight: p.Weight, StopAt: p.StopAt})
			}
		}
	}
	v.InputJSON = indentJSON(g.Input)
	if m := indentJSON(g.Metadata); m != "{}" {
		v.Metadata = m
	}

	v.Images = make([]imageView, len(images))
	for i, im := range images {
		v.Images[i] = imageView{Image: im, Number: i + 1, Alt: imageAlt(i, len(images), im)}
	}

	if g.SubmittedAt != nil {
		v.Timings = append(v.Timings, field{"Waited in Easel's queue", formatDuration(g.SubmittedAt.Sub(g.CreatedAt))})
	}
	if g.FinishedAt != nil {
		v.Timings = append(v.Timings, field{"Enqueue to " + string(g.Status), formatDuration(g.FinishedAt.Sub(g.CreatedAt))})
	}
	if g.InferenceSeconds != nil {
		v.Timings = append(v.Timings, field{"Inference (fal)", formatDuration(secondsDuration(*g.InferenceSeconds))})
	}
	v.Timings = append(v.Timings, falTimings(g.Timings)...)

	v.Fal = []field{{"Endpoint", g.EndpointID}, {"Request id", orDash(g.FalRequestID)}}
	if g.FalGatewayRequestID != nil {
		v.Fal = append(v.Fal, field{"Gateway request id", *g.FalGatewayRequestID})
	}
	v.Fal = append(v.Fal, field{"Submit attempts", fmt.Sprint(g.Attempts)}, field{"Requests that reached fal", fmt.Sprint(g.FalSubmissions)})

	switch {
	case g.Status == store.StatusCancelled:
		v.Cancelled = &cancelView{Message: deref(g.ErrorMessage)}
	case g.ErrorCode != nil || g.ErrorMessage != nil:
		v.Error = &errorView{Code: deref(g.ErrorCode), Message: deref(g.ErrorMessage), Retrying: !g.Status.Terminal()}
	}
	return v
}

func inputFields(g *store.Generation, in *fal.ImagePromptInput) []field {
	seed := "random (chosen by fal)"
	if g.Seed != nil {
		seed = *g.Seed
	}
	safety := "on"
	if !in.EnableSafetyChecker {
		safety = "off"
	}
	return []field{
		{"Performance", in.Performance},
		{"Aspect ratio", in.AspectRatio},
		{"Images", fmt.Sprint(in.NumImages)},
		{"Styles", strings.Join(in.Styles, ", ")},
		{"Guidance scale", fmt.Sprint(in.GuidanceScale)},
		{"Sharpness", fmt.Sprint(in.Sharpness)},
		{"Seed", seed},
		{"Output format", in.OutputFormat},
		{"Safety checker", safety},
		{"Priority", fmt.Sprint(g.Priority)},
	}
}

// falTimings lists fal's own timings object, whose keys fal does not
// document, in key order.
func falTimings(raw json.RawMessage) []field {
	var timings map[string]any
	if json.Unmarshal(raw, &timings) != nil {
		return nil
	}
	keys := make([]string, 0, len(timings))
	for k := range timings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var fields []field
	for _, k := range keys {
		if s, ok := timings[k].(float64); ok {
			fields = append(fields, field{"fal timing: " + k, formatDuration(secondsDuration(s))})
		}
	}
	return fields
}

// generationState is what the page's script polls while the generation is
// pending. The script reloads when Status, FalStatus or FalQueuePosition
// changes; Version changes with anything the page would show, for a reader
// that wants every change.
type generationState struct {
	Status   store.Status `json:"status"`
	Terminal bool         `json:"terminal"`
	Version  string       `json:"version"`
	// FalStatus and FalQueuePosition are what fal last said of the
	// request, which may be all that changes for minutes while fal holds
	// it.
	FalStatus        *string `json:"fal_status"`
	FalQueuePosition *int    `json:"fal_queue_position"`
}

func (h *Handler) state(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no generation %q", c.Param("id")))
	}
	g, err := store.GetGeneration(c.Request().Context(), h.pool, id)
	h.noteDatabase(err)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no generation "+id.String())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, generationState{Status: g.Status, Terminal: g.Status.Terminal(), Version: stateVersion(g),
		FalStatus: g.FalStatus, FalQueuePosition: g.FalQueuePosition})
}

// stateVersion changes whenever the page would show something new: every
// write to the row bumps updated_at, except noting a webhook, which sets
// last_webhook_at.
func stateVersion(g *store.Generation) string {
	var webhook int64
	if g.LastWebhookAt != nil {
		webhook = g.LastWebhookAt.UnixMicro()
	}
	return fmt.Sprintf("%s.%d.%d", g.Status, g.UpdatedAt.UnixMicro(), webhook)
}

// indentJSON renders a stored JSON document for reading, with long strings
// (data: URI images above all) abbreviated.
func indentJSON(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keeps 20-digit seeds exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // html/template escapes the page; this is for reading
	enc.SetIndent("", "  ")
	if err := enc.Encode(abbreviateStrings(v)); err != nil {
		return string(raw)
	}
	return strings.TrimSpace(buf.String())
}

func abbreviateStrings(v any) any {
	switch v := v.(type) {
	case string:
		return abbreviate(v)
	case map[string]any:
		for k, e := range v {
			v[k] = abbreviateStrings(e)
		}
	case []any:
		for i, e := range v {
			v[i] = abbreviateStrings(e)
		}
	}
	return v
}

// maxShownChars bounds a string shown on a page.
const maxShownChars = 300

func abbreviate(s string) string {
	if len(s) <= maxShownChars {
		return s
	}
	cut := maxShownChars
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", s[:cut], len(s))
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "—"
	}
	return *s
}
