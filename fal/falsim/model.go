package falsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const (
	defaultSize = 1024
	minSize     = 64
	maxSize     = 4096
)

// modelInput is the part of a fooocus input that shapes the simulated output.
type modelInput struct {
	width, height int
	numImages     int
	safetyChecker bool
	format        imageFormat
}

// errorDetail is one item of fal's 422 {"detail": [...]} model error body.
type errorDetail struct {
	Loc   []string        `json:"loc"`
	Msg   string          `json:"msg"`
	Type  string          `json:"type"`
	URL   string          `json:"url"`
	Ctx   map[string]any  `json:"ctx,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

func newErrorDetail(errType, msg string, loc ...string) errorDetail {
	return errorDetail{
		Loc:  append([]string{"body"}, loc...),
		Msg:  msg,
		Type: errType,
		URL:  "https://docs.fal.ai/errors/#" + errType,
	}
}

// modelFailures are the errors injected by Config.FailRate: failures of a
// valid input that only the model run can reveal.
var modelFailures = []errorDetail{
	newErrorDetail("image_load_error", "Failed to load the image. Please ensure the image URL is valid and accessible.", "image_prompt_1", "image_url"),
	newErrorDetail("no_media_generated", "The model did not generate any images."),
	newErrorDetail("content_policy_violation", "The content could not be processed because it contained material flagged by a content checker.", "prompt"),
}

// parseInput validates body, a JSON object, the way the model would at the
// start of its run. Only the fields the simulator uses are checked.
func parseInput(body []byte) (modelInput, []errorDetail) {
	in := modelInput{width: defaultSize, height: defaultSize, numImages: 1, safetyChecker: true, format: defaultFormat}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return in, []errorDetail{newErrorDetail("model_attributes_type", "Input should be a valid dictionary or object to extract fields from")}
	}
	present := func(name string) (json.RawMessage, bool) {
		raw, ok := fields[name]
		return raw, ok && !bytes.Equal(raw, []byte("null"))
	}

	var details []errorDetail
	invalid := func(d errorDetail, raw json.RawMessage) {
		d.Input = raw
		details = append(details, d)
	}

	if raw, ok := present("image_prompt_1"); !ok {
		details = append(details, newErrorDetail("missing", "Field required", "image_prompt_1"))
	} else if raw[0] != '{' {
		invalid(newErrorDetail("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", "image_prompt_1"), raw)
	}

	if raw, ok := present("num_images"); ok {
		n, err := strconv.Atoi(string(raw))
		switch {
		case err != nil:
			invalid(newErrorDetail("int_parsing", "Input should be a valid integer", "num_images"), raw)
		case n < 1:
			d := newErrorDetail("greater_than_equal", "Input should be greater than or equal to 1", "num_images")
			d.Ctx = map[string]any{"ge": 1}
			invalid(d, raw)
		case n > maxImages:
			d := newErrorDetail("less_than_equal", fmt.Sprintf("Input should be less than or equal to %d", maxImages), "num_images")
			d.Ctx = map[string]any{"le": maxImages}
			invalid(d, raw)
		default:
			in.numImages = n
		}
	}

	if raw, ok := present("aspect_ratio"); ok {
		var s string
		w, h, sizeOK := 0, 0, false
		if json.Unmarshal(raw, &s) == nil {
			w, h, sizeOK = parseSize(s)
		}
		if sizeOK {
			in.width, in.height = w, h
		} else {
			invalid(newErrorDetail("value_error", fmt.Sprintf("Value error, aspect_ratio must be WIDTHxHEIGHT with both between %d and %d", minSize, maxSize), "aspect_ratio"), raw)
		}
	}

	if raw, ok := present("output_format"); ok {
		var f string
		if json.Unmarshal(raw, &f) == nil && slices.Contains(imageFormats, imageFormat(f)) {
			in.format = imageFormat(f)
		} else {
			invalid(formatError(), raw)
		}
	}

	if raw, ok := present("enable_safety_checker"); ok {
		if json.Unmarshal(raw, &in.safetyChecker) != nil {
			invalid(newErrorDetail("bool_parsing", "Input should be a valid boolean", "enable_safety_checker"), raw)
		}
	}
	return in, details
}

// formatError is pydantic's error for a value outside an enum, as fal
// words it for output_format.
func formatError() errorDetail {
	quoted := make([]string, len(imageFormats))
	for i, f := range imageFormats {
		quoted[i] = "'" + string(f) + "'"
	}
	expected := strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	d := newErrorDetail("enum", "Input should be "+expected, "output_format")
	d.Ctx = map[string]any{"expected": expected}
	return d
}

// parseSize parses "WxH" with both sides plain decimal numbers in
// [minSize, maxSize].
func parseSize(s string) (width, height int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	if width, ok = parseDimension(ws); !ok {
		return 0, 0, false
	}
	if height, ok = parseDimension(hs); !ok {
		return 0, 0, false
	}
	return width, height, true
}

func parseDimension(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= minSize && n <= maxSize
}

// outcome is how a request ends. It is computed at submit time from the input
// and the plan, so nothing expensive happens while the scheduler lock is held.
type outcome struct {
	status        int    // HTTP status of the result: 200 or the error's
	body          []byte // result body: the model output or the error
	errorType     string // empty on success
	flatError     bool   // body is {"detail": "...", "error_type": "..."}: send X-Fal-Error-Type
	inferenceTime float64
	payloadError  bool
}

func (o *outcome) failed() bool { return o.status != http.StatusOK }

// errorText is the error field of the status and webhook, which fal words
// after the app's HTTP status.
func (o *outcome) errorText() string { return fmt.Sprintf("Invalid status code: %d", o.status) }

var cancelledOutcome = func() *outcome {
	body, _ := json.Marshal(map[string]string{"detail": "Request cancelled by client", "error_type": "client_cancelled"})
	return &outcome{status: 499, body: body, errorType: "client_cancelled", flatError: true}
}()

type outputImage struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	FileName    string `json:"file_name"`
	FileSize    int    `json:"file_size"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

type output struct {
	Images  []outputImage      `json:"images"`
	Timings map[string]float64 `json:"timings"`
	// HasNSFWConcepts is a list of booleans, one per image, unless
	// Config.NSFWUnknownRate malformed it; empty omits the field.
	HasNSFWConcepts json.RawMessage `json:"has_nsfw_concepts,omitempty"`
}

// nsfwShape is a has_nsfw_concepts from which no image's flag can be read,
// injected by Config.NSFWUnknownRate: the ways a receiver must expect fal's
// to be unusable, which Easel records as unknown rather than as clean.
type nsfwShape int

const (
	nsfwOmitted nsfwShape = iota // no has_nsfw_concepts at all
	nsfwNull                     // "has_nsfw_concepts": null
	nsfwShort                    // the last image's entry missing, so none pairs with its image
	nsfwStrings                  // "true" and "false" as strings
	nsfwShapeCount
)

// encode returns has_nsfw_concepts for flags, one per image, in shape s.
func (s nsfwShape) encode(flags []bool) (json.RawMessage, error) {
	var v any
	switch s {
	case nsfwOmitted:
		return nil, nil
	case nsfwNull:
		return json.RawMessage("null"), nil
	case nsfwShort:
		v = flags[:len(flags)-1]
	case nsfwStrings:
		quoted := make([]string, len(flags))
		for i, f := range flags {
			quoted[i] = strconv.FormatBool(f)
		}
		v = quoted
	default:
		return nil, fmt.Errorf("unknown has_nsfw_concepts shape %d", s)
	}
	return json.Marshal(v)
}

// buildOutcome runs the simulated model for request id. Image URLs are built
// on filesURL, the base URL of the files.
func (s *Sim) buildOutcome(id, filesURL string, body []byte, p plan) (*outcome, error) {
	seconds := math.Round(p.runTime.Seconds()*1000) / 1000
	in, details := parseInput(body)
	if len(details) == 0 && p.fail {
		details = []errorDetail{modelFailures[p.failure]}
	}
	if len(details) > 0 {
		errBody, err := json.Marshal(map[string]any{"detail": details})
		if err != nil {
			return nil, fmt.Errorf("encode error of request %s: %w", id, err)
		}
		return &outcome{status: http.StatusUnprocessableEntity, body: errBody, errorType: details[0].Type, inferenceTime: seconds}, nil
	}

	out := output{
		Images:  make([]outputImage, in.numImages),
		Timings: map[string]float64{"inference": seconds},
	}
	flags := make([]bool, in.numImages)
	for i := range in.numImages {
		nsfw := p.nsfw[i]
		variant := p.variant
		if nsfw && in.safetyChecker {
			variant = blackVariant
		}
		f := imageFile{width: in.width, height: in.height, variant: variant, format: in.format, name: fmt.Sprintf("%s-%d.%s", id, i, in.format)}
		encoded, err := s.images.get(f.key())
		if err != nil {
			return nil, fmt.Errorf("render image %d of request %s: %w", i, id, err)
		}
		out.Images[i] = outputImage{
			URL:         filesURL + f.path(),
			ContentType: f.format.contentType(),
			FileName:    f.name,
			FileSize:    len(encoded),
			Width:       in.width,
			Height:      in.height,
		}
		flags[i] = nsfw
	}
	var err error
	if p.nsfwUnknown {
		out.HasNSFWConcepts, err = p.nsfwShape.encode(flags)
	} else {
		out.HasNSFWConcepts, err = json.Marshal(flags)
	}
	if err != nil {
		return nil, fmt.Errorf("encode has_nsfw_concepts of request %s: %w", id, err)
	}
	outBody, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode output of request %s: %w", id, err)
	}
	return &outcome{status: http.StatusOK, body: outBody, inferenceTime: seconds, payloadError: p.payloadError}, nil
}
