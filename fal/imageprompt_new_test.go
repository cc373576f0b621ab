package fal_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
)

// TestNewImagePromptInput: an input built in Go from NewImagePromptInput is
// valid and encodes to exactly what Easel stores for the same input sent
// as JSON, so both reach fal alike.
func TestNewImagePromptInput(t *testing.T) {
	t.Parallel()

	const (
		ref   = "https://example.com/mug.png"
		style = "https://example.com/style.png"
	)
	seed := uint64(17454220438242315174)
	tests := []struct {
		name  string
		build func() *fal.ImagePromptInput
		json  string // the same input as JSON
		// stored: the typed input encodes to what is stored, unchanged by
		// parsing; nil slices encode as null instead.
		stored bool
	}{
		{name: "fal's defaults", build: func() *fal.ImagePromptInput { return fal.NewImagePromptInput("a mug", ref) },
			json: `{"prompt":"a mug","image_prompt_1":{"image_url":"` + ref + `"}}`, stored: true},
		{name: "settings whose zero value is a value", build: func() *fal.ImagePromptInput {
			in := fal.NewImagePromptInput("a mug", ref)
			in.Sharpness = 0
			in.RefinerSwitch = 0
			in.EnableSafetyChecker = false
			in.ImagePrompt1.Weight = 0
			return in
		}, json: `{"prompt":"a mug","sharpness":0,"refiner_switch":0,"enable_safety_checker":false,"image_prompt_1":{"image_url":"` + ref + `","weight":0}}`, stored: true},
		{name: "every kind of change", build: func() *fal.ImagePromptInput {
			in := fal.NewImagePromptInput("a mug", ref)
			in.Performance = "Quality"
			in.NumImages = 4
			in.AspectRatio = "1152x896"
			in.Styles = []string{} // no style, where nil is fal's three
			in.Seed = &seed
			in.ImagePrompt1.Type = "PyraCanny"
			second := fal.NewImagePrompt(style)
			second.Weight = 1.5
			in.ImagePrompt2 = &second
			return in
		}, json: `{"prompt":"a mug","performance":"Quality","num_images":4,"aspect_ratio":"1152x896","styles":[],"seed":17454220438242315174,
			"image_prompt_1":{"image_url":"` + ref + `","type":"PyraCanny"},"image_prompt_2":{"image_url":"` + style + `","weight":1.5}}`, stored: true},
		{name: "nil slices are fal's defaults", build: func() *fal.ImagePromptInput {
			in := fal.NewImagePromptInput("a mug", ref)
			in.Styles, in.Loras, in.OutpaintSelections = nil, nil, nil
			return in
		}, json: `{"prompt":"a mug","image_prompt_1":{"image_url":"` + ref + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			typed, err := json.Marshal(tt.build())
			require.NoError(t, err)
			fromTyped, err := fal.ParseImagePromptInput(typed)
			require.NoError(t, err, "the typed input is valid")
			fromJSON, err := fal.ParseImagePromptInput([]byte(tt.json))
			require.NoError(t, err)

			stored, err := json.Marshal(fromTyped)
			require.NoError(t, err)
			want, err := json.Marshal(fromJSON)
			require.NoError(t, err)
			require.Equal(t, string(want), string(stored))
			if tt.stored {
				require.Equal(t, string(want), string(typed))
			}
		})
	}
}

// Each NewImagePromptInput is a value of its own: changing one's slices
// leaves the next one's defaults alone.
func TestNewImagePromptInputSharesNothing(t *testing.T) {
	t.Parallel()

	first := fal.NewImagePromptInput("a", "https://example.com/a.png")
	first.Styles[0] = "Fooocus Masterpiece"
	first.Loras[0].Scale = 2
	second := fal.NewImagePromptInput("b", "https://example.com/b.png")
	require.Equal(t, []string{"Fooocus Enhance", "Fooocus V2", "Fooocus Sharp"}, second.Styles)
	require.Equal(t, 0.1, second.Loras[0].Scale)
}

// A struct literal is not an input with fal's defaults: its zero values are
// sent as they are, and the zero enums and numbers outside their ranges
// are refused, as ImagePromptInput's documentation says.
func TestImagePromptInputLiteralIsNotDefaults(t *testing.T) {
	t.Parallel()

	literal, err := json.Marshal(fal.ImagePromptInput{Prompt: "a mug", ImagePrompt1: fal.ImagePrompt{ImageURL: "https://example.com/mug.png"}})
	require.NoError(t, err)
	_, err = fal.ParseImagePromptInput(literal)
	invalid, ok := errors.AsType[*fal.ValidationError](err)
	require.True(t, ok, "%v", err)
	var fields []string
	for _, f := range invalid.Fields {
		fields = append(fields, f.Field)
	}
	require.Equal(t, []string{"performance", "guidance_scale", "aspect_ratio", "num_images", "refiner_model", "output_format",
		"image_prompt_1.type", "inpaint_mode", "uov_method"}, fields)
}
