package fal

import (
	"encoding/json"
	"math"
)

// ImagePromptInput is the fal-ai/fooocus/image-prompt input with every default applied. Its JSON encoding is exactly
// what Easel stores and sends to fal, so a stored generation says which settings produced its images even if fal's
// defaults change later. Field order follows fal's schema.
//
// Values come from ParseImagePromptInput or ParseImagePromptFields, or, for a Go caller building an input, from
// NewImagePromptInput, which holds fal's defaults: set the fields that differ from them. Every field but the seed and
// the optional images is encoded as it is, its zero value included, so a struct literal is not a request with fal's
// defaults: it asks for sharpness 0, no safety checker and an image prompt of weight 0, and its empty enums
// (performance, aspect_ratio, ...) are invalid. A value built by hand has not been validated: jobs.Enqueue and
// jobs.ParseInput validate it, as does ParseImagePromptInput(json.Marshal(v)), which returns it with nil slices
// (encoded as null, which means absent) replaced by their defaults.
type ImagePromptInput struct {
	Prompt         string       `json:"prompt"`
	NegativePrompt string       `json:"negative_prompt"`
	Styles         []string     `json:"styles"`
	Performance    string       `json:"performance"`
	GuidanceScale  float64      `json:"guidance_scale"`
	Sharpness      float64      `json:"sharpness"`
	AspectRatio    string       `json:"aspect_ratio"`
	NumImages      int          `json:"num_images"`
	Loras          []LoraWeight `json:"loras"`
	RefinerModel   string       `json:"refiner_model"`
	RefinerSwitch  float64      `json:"refiner_switch"`
	OutputFormat   string       `json:"output_format"`

	// SyncMode is always false: with sync_mode fal returns the images inline as data URIs instead of storing them, which
	// would bypass Easel's history. It is still sent so the stored input states it.
	SyncMode bool `json:"sync_mode"`

	// Seed is nil when the caller gave none; fal then picks a random seed. It is a uint64 because fal's seeds exceed
	// int64 (17454220438242315174 has been seen) and must survive storage digit for digit.
	Seed *uint64 `json:"seed,omitempty"`

	ImagePrompt1 ImagePrompt  `json:"image_prompt_1"`
	ImagePrompt2 *ImagePrompt `json:"image_prompt_2,omitempty"`
	ImagePrompt3 *ImagePrompt `json:"image_prompt_3,omitempty"`
	ImagePrompt4 *ImagePrompt `json:"image_prompt_4,omitempty"`

	InpaintImageURL                 string   `json:"inpaint_image_url,omitempty"`
	MaskImageURL                    string   `json:"mask_image_url,omitempty"`
	InpaintMode                     string   `json:"inpaint_mode"`
	InpaintAdditionalPrompt         string   `json:"inpaint_additional_prompt"`
	OutpaintSelections              []string `json:"outpaint_selections"`
	MixingImagePromptAndInpaint     bool     `json:"mixing_image_prompt_and_inpaint"`
	UovImageURL                     string   `json:"uov_image_url,omitempty"`
	UovMethod                       string   `json:"uov_method"`
	MixingImagePromptAndVaryUpscale bool     `json:"mixing_image_prompt_and_vary_upscale"`
	EnableSafetyChecker             bool     `json:"enable_safety_checker"`
}

// ImagePrompt is one reference image that steers the generation. NewImagePrompt gives one with fal's defaults; a
// literal's zero Weight and StopAt are values, not defaults.
type ImagePrompt struct {
	ImageURL string  `json:"image_url"`
	Type     string  `json:"type"`
	Weight   float64 `json:"weight"`
	StopAt   float64 `json:"stop_at"`
}

// LoraWeight is one LoRA merged into the base model.
type LoraWeight struct {
	// Path is a URL or a Hugging Face repository id.
	Path  string  `json:"path"`
	Scale float64 `json:"scale"`
}

// MaxImageDataSize is the largest decoded size, in bytes, of an image given as a data: URI. fal decodes such images
// from the request body itself, and Easel stores every input, so large images belong behind a URL.
const MaxImageDataSize = 5 << 20

// Limits that fal's schema leaves open; Easel chooses them so that nonsense fails fast instead of at fal.
const (
	maxPromptChars    = 10_000 // prompt, negative_prompt, inpaint_additional_prompt, in Unicode code points
	maxImageURLLength = 2048   // http(s) image URLs and LoRA paths, in bytes
	maxLoras          = 5      // fal: "You can use up to 5 LoRAs"

	// fal's page for this model gives a LoRA's scale no range. fal's LoraWeight schema shared by other models says 0–4
	// (protocol §4: unconfirmed for Fooocus), but Fooocus itself offers -2..2 by default: a negative weight takes a
	// LoRA's style away, which its users do routinely. -4..4 takes both; beyond them is a mistake, not a choice.
	minLoraScale = -4
	maxLoraScale = 4

	// SDXL is trained around one megapixel; every Fooocus preset lies within these sides, and the cap on each side
	// bounds an image at 2048×2048 = 4,194,304 pixels.
	minAspectSide = 256
	maxAspectSide = 2048
)

// The defaults fal documents. They are applied explicitly so the stored input is complete.
const (
	defaultLoraPath  = "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_offset_example-lora_1.0.safetensors"
	defaultLoraScale = 0.1 // fal's page for this model; fal's shared LoraWeight schema elsewhere says 1
)

var (
	performances     = []string{"Speed", "Quality", "Extreme Speed", "Lightning"}
	refinerModels    = []string{"None", "realisticVisionV60B1_v51VAE.safetensors"}
	outputFormats    = []string{"png", "jpeg", "webp"}
	imagePromptTypes = []string{"ImagePrompt", "PyraCanny", "CPDS", "FaceSwap"}
	inpaintModes     = []string{
		"Inpaint or Outpaint (default)",
		"Improve Detail (face, hand, eyes, etc.)",
		"Modify Content (add objects, change background, etc.)",
	}
	outpaintDirections = []string{"Left", "Right", "Top", "Bottom"}
	uovMethods         = []string{"Disabled", "Vary (Subtle)", "Vary (Strong)", "Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)"}
)

func defaultImagePromptInput() *ImagePromptInput {
	return &ImagePromptInput{
		Styles:              []string{"Fooocus Enhance", "Fooocus V2", "Fooocus Sharp"},
		Performance:         "Extreme Speed",
		GuidanceScale:       4,
		Sharpness:           2,
		AspectRatio:         "1024x1024",
		NumImages:           1,
		Loras:               []LoraWeight{{Path: defaultLoraPath, Scale: defaultLoraScale}},
		RefinerModel:        "None",
		RefinerSwitch:       0.8,
		OutputFormat:        "jpeg",
		InpaintMode:         inpaintModes[0],
		OutpaintSelections:  []string{},
		UovMethod:           "Disabled",
		EnableSafetyChecker: true,
	}
}

func defaultImagePrompt() ImagePrompt {
	return ImagePrompt{Type: "ImagePrompt", Weight: 1, StopAt: 0.5}
}

// NewImagePromptInput returns the input that ParseImagePromptInput makes of {"prompt": prompt, "image_prompt_1":
// {"image_url": imageURL}}: fal's documented default for every other field, image_prompt_1 being NewImagePrompt's.
// Change what should differ, then pass it to jobs.Enqueue, which validates it; nothing is validated here. Its JSON
// encoding is what Easel stores for the same input sent as JSON.
func NewImagePromptInput(prompt, imageURL string) *ImagePromptInput {
	in := defaultImagePromptInput()
	in.Prompt = prompt
	in.ImagePrompt1 = NewImagePrompt(imageURL)
	return in
}

// NewImagePrompt returns the image prompt that ParseImagePromptInput makes of {"image_url": imageURL}: of type
// ImagePrompt, weight 1 and stop_at 0.5, fal's defaults. An optional one is set by address:
//
//	ip := fal.NewImagePrompt("https://example.com/style.png")
//	in.ImagePrompt2 = &ip
func NewImagePrompt(imageURL string) ImagePrompt {
	ip := defaultImagePrompt()
	ip.ImageURL = imageURL
	return ip
}

// ParseImagePromptInput decodes, validates and defaults a JSON object of fal-ai/fooocus/image-prompt input fields.
//
// It is stricter than fal, which accepts most queue submissions and fails them minutes later:
//
//   - Unknown fields are rejected, at every level, so that a typo cannot silently become a default. So are duplicate
//     fields, whose meaning depends on the parser.
//   - null means "absent" and takes the default; image_prompt_1 and its image_url are required. seed may be absent or
//     null (fal picks one) or an integer in [0, 2^64-1].
//   - Integers must be written as integers: 1.5 and 1.0 are not a num_images.
//   - Every enum value, including each of the 277 style names (see StyleNames), must match exactly. styles and
//     outpaint_selections must not repeat a value; both may be [], as may loras (no LoRA at all).
//   - aspect_ratio is "<width>x<height>" with both sides multiples of 8 between 256 and 2048.
//   - Numbers: guidance_scale 1–30, sharpness 0–30, num_images 1–4, refiner_switch 0–1, image prompt weight 0–2 and
//     stop_at 0–1, LoRA scale -4–4 (negative weights subtract a LoRA's style, as Fooocus allows); at most 5 LoRAs, each
//     with a non-empty path of at most 2048 bytes.
//   - prompt, negative_prompt and inpaint_additional_prompt hold at most 10,000 characters.
//   - Every string is valid UTF-8 without an unpaired UTF-16 surrogate escape (\ud800): encoding/json would read either
//     as U+FFFD, and what is stored and sent to fal must be what the caller wrote.
//   - An image (image_url of an image prompt, inpaint_image_url, mask_image_url, uov_image_url) is an absolute
//     http(s) URL with a host, of at most 2048 bytes and without credentials, or a base64 data URI of an image/* media
//     type ("data:image/png;base64,...") whose data decodes to at most MaxImageDataSize bytes. "" is refused, not read
//     as no image: leave an optional one out, or send null. Every image prompt (image_prompt_2..4 too) needs its
//     image_url, which fal's schema leaves optional: an image prompt without an image steers nothing.
//   - sync_mode true is rejected: fal would return the images inline and they would bypass Easel's history.
//
// Invalid input yields a *ValidationError naming every invalid field at once, in schema order (array elements in index
// order, unknown fields last). Malformed JSON yields a single FieldError giving the byte offset, with the top-level
// field being read as its Field when there is one.
func ParseImagePromptInput(raw []byte) (*ImagePromptInput, error) {
	obj, syntaxErr := readRawObject(raw)
	if syntaxErr != nil {
		return nil, &ValidationError{Fields: []FieldError{*syntaxErr}}
	}
	return parseImagePromptInput(obj)
}

// ParseImagePromptFields is ParseImagePromptInput for an object that was already split into its top-level fields, as
// the HTTP API does to take out its own fields (priority, metadata) first. Duplicate fields cannot be detected here.
func ParseImagePromptFields(fields map[string]json.RawMessage) (*ImagePromptInput, error) {
	return parseImagePromptInput(rawObject{fields: fields, untrusted: true})
}

func parseImagePromptInput(obj rawObject) (*ImagePromptInput, error) {
	var p inputParser
	in := defaultImagePromptInput()
	parseRawObject(&p, "", obj, imagePromptInputFields, in)
	if err := p.err(); err != nil {
		return nil, err
	}
	return in, nil
}

// imagePromptInputFields are the top-level input fields in fal's schema order, which is also the order of the errors.
var imagePromptInputFields = []inputField[ImagePromptInput]{
	stringField("prompt", maxPromptChars, func(in *ImagePromptInput, v string) { in.Prompt = v }),
	stringField("negative_prompt", maxPromptChars, func(in *ImagePromptInput, v string) { in.NegativePrompt = v }),
	enumListField("styles", styleNames, func(in *ImagePromptInput, v []string) { in.Styles = v }),
	enumField("performance", performances, func(in *ImagePromptInput, v string) { in.Performance = v }),
	numberField("guidance_scale", 1, 30, func(in *ImagePromptInput, v float64) { in.GuidanceScale = v }),
	numberField("sharpness", 0, 30, func(in *ImagePromptInput, v float64) { in.Sharpness = v }),
	{name: "aspect_ratio", parse: func(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
		if s, ok := p.string(path, raw); ok && p.check(path, checkAspectRatio(s)) {
			in.AspectRatio = s
		}
	}},
	{name: "num_images", parse: func(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
		if n, ok := p.integer(path, raw, 1, 4); ok {
			in.NumImages = int(n)
		}
	}},
	{name: "loras", parse: parseLoras},
	enumField("refiner_model", refinerModels, func(in *ImagePromptInput, v string) { in.RefinerModel = v }),
	numberField("refiner_switch", 0, 1, func(in *ImagePromptInput, v float64) { in.RefinerSwitch = v }),
	enumField("output_format", outputFormats, func(in *ImagePromptInput, v string) { in.OutputFormat = v }),
	{name: "sync_mode", parse: func(p *inputParser, path string, raw json.RawMessage, _ *ImagePromptInput) {
		if v, ok := p.boolean(path, raw); ok && v {
			p.fail(path, "sync_mode is not supported: results would be returned inline and bypass Easel's history")
		}
	}},
	{name: "seed", parse: func(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
		if n, ok := p.integer(path, raw, 0, math.MaxUint64); ok {
			in.Seed = &n
		}
	}},
	{name: "image_prompt_1", required: true, parse: func(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
		if ip, ok := parseImagePrompt(p, path, raw); ok {
			in.ImagePrompt1 = *ip
		}
	}},
	optionalImagePromptField("image_prompt_2", func(in *ImagePromptInput, v *ImagePrompt) { in.ImagePrompt2 = v }),
	optionalImagePromptField("image_prompt_3", func(in *ImagePromptInput, v *ImagePrompt) { in.ImagePrompt3 = v }),
	optionalImagePromptField("image_prompt_4", func(in *ImagePromptInput, v *ImagePrompt) { in.ImagePrompt4 = v }),
	imageURLField("inpaint_image_url", false, func(in *ImagePromptInput, v string) { in.InpaintImageURL = v }),
	imageURLField("mask_image_url", false, func(in *ImagePromptInput, v string) { in.MaskImageURL = v }),
	enumField("inpaint_mode", inpaintModes, func(in *ImagePromptInput, v string) { in.InpaintMode = v }),
	stringField("inpaint_additional_prompt", maxPromptChars, func(in *ImagePromptInput, v string) { in.InpaintAdditionalPrompt = v }),
	enumListField("outpaint_selections", outpaintDirections, func(in *ImagePromptInput, v []string) { in.OutpaintSelections = v }),
	boolField("mixing_image_prompt_and_inpaint", func(in *ImagePromptInput, v bool) { in.MixingImagePromptAndInpaint = v }),
	imageURLField("uov_image_url", false, func(in *ImagePromptInput, v string) { in.UovImageURL = v }),
	enumField("uov_method", uovMethods, func(in *ImagePromptInput, v string) { in.UovMethod = v }),
	boolField("mixing_image_prompt_and_vary_upscale", func(in *ImagePromptInput, v bool) { in.MixingImagePromptAndVaryUpscale = v }),
	boolField("enable_safety_checker", func(in *ImagePromptInput, v bool) { in.EnableSafetyChecker = v }),
}

var imagePromptFields = []inputField[ImagePrompt]{
	imageURLField("image_url", true, func(ip *ImagePrompt, v string) { ip.ImageURL = v }),
	enumField("type", imagePromptTypes, func(ip *ImagePrompt, v string) { ip.Type = v }),
	numberField("weight", 0, 2, func(ip *ImagePrompt, v float64) { ip.Weight = v }),
	numberField("stop_at", 0, 1, func(ip *ImagePrompt, v float64) { ip.StopAt = v }),
}

var loraWeightFields = []inputField[LoraWeight]{
	{name: "path", required: true, parse: func(p *inputParser, path string, raw json.RawMessage, lw *LoraWeight) {
		if s, ok := p.string(path, raw); ok && p.check(path, checkLoraPath(s)) {
			lw.Path = s
		}
	}},
	numberField("scale", minLoraScale, maxLoraScale, func(lw *LoraWeight, v float64) { lw.Scale = v }),
}

func parseImagePrompt(p *inputParser, path string, raw json.RawMessage) (*ImagePrompt, bool) {
	obj, ok := p.object(path, raw)
	if !ok {
		return nil, false
	}
	ip := defaultImagePrompt()
	before := len(p.errs)
	parseRawObject(p, path, obj, imagePromptFields, &ip)
	return &ip, len(p.errs) == before
}

func optionalImagePromptField(name string, set func(*ImagePromptInput, *ImagePrompt)) inputField[ImagePromptInput] {
	return inputField[ImagePromptInput]{name: name, parse: func(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
		if ip, ok := parseImagePrompt(p, path, raw); ok {
			set(in, ip)
		}
	}}
}

func parseLoras(p *inputParser, path string, raw json.RawMessage, in *ImagePromptInput) {
	elems, ok := p.array(path, raw, maxLoras)
	if !ok {
		return
	}
	loras := make([]LoraWeight, 0, len(elems))
	for i, elem := range elems {
		elemPath := indexFieldPath(path, i)
		obj, ok := p.object(elemPath, elem)
		if !ok {
			continue
		}
		lw := LoraWeight{Scale: defaultLoraScale}
		parseRawObject(p, elemPath, obj, loraWeightFields, &lw)
		loras = append(loras, lw)
	}
	in.Loras = loras
}
