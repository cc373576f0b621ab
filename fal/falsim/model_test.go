package falsim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseInput(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		body      string
		want      modelInput
		wantTypes []string
	}{
		{
			name: "defaults",
			body: `{"image_prompt_1": {"image_url": "https://example.com/a.png"}}`,
			want: modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
		},
		{
			name: "explicit fields",
			body: `{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 3, "enable_safety_checker": false, "output_format": "png"}`,
			want: modelInput{width: 832, height: 1216, numImages: 3, safetyChecker: false, format: "png"},
		},
		{
			name: "webp",
			body: `{"image_prompt_1": {}, "output_format": "webp"}`,
			want: modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "webp"},
		},
		{
			name: "null output format is the default",
			body: `{"image_prompt_1": {}, "output_format": null}`,
			want: modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
		},
		{
			name:      "output format outside the enum",
			body:      `{"image_prompt_1": {}, "output_format": "gif"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"enum"},
		},
		{
			name:      "output format in capitals",
			body:      `{"image_prompt_1": {}, "output_format": "PNG"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"enum"},
		},
		{
			name:      "missing image prompt",
			body:      `{"prompt": "a cat"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"missing"},
		},
		{
			name:      "null image prompt",
			body:      `{"image_prompt_1": null}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"missing"},
		},
		{
			name:      "num_images out of range and bad aspect ratio",
			body:      `{"image_prompt_1": {}, "num_images": 5, "aspect_ratio": "square"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"less_than_equal", "value_error"},
		},
		{
			name:      "num_images zero",
			body:      `{"image_prompt_1": {}, "num_images": 0}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"greater_than_equal"},
		},
		{
			name:      "wrong types",
			body:      `{"image_prompt_1": "x", "num_images": "two", "enable_safety_checker": 1, "output_format": 1}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true, format: "jpeg"},
			wantTypes: []string{"model_attributes_type", "int_parsing", "enum", "bool_parsing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, details := parseInput([]byte(tt.body))
			require.Equal(t, tt.want, got)
			var types []string
			for _, d := range details {
				types = append(types, d.Type)
				require.Equal(t, "body", d.Loc[0])
				require.Equal(t, "https://docs.fal.ai/errors/#"+d.Type, d.URL)
			}
			require.Equal(t, tt.wantTypes, types)
		})
	}
}

// The error for a bad output_format is pydantic's for an enum, as fal's
// other validation errors are.
func TestOutputFormatError(t *testing.T) {
	t.Parallel()

	_, details := parseInput([]byte(`{"image_prompt_1": {}, "output_format": "gif"}`))
	require.Len(t, details, 1)
	require.Equal(t, []string{"body", "output_format"}, details[0].Loc)
	require.Equal(t, "Input should be 'png', 'jpeg' or 'webp'", details[0].Msg)
	require.Equal(t, map[string]any{"expected": "'png', 'jpeg' or 'webp'"}, details[0].Ctx)
	require.JSONEq(t, `"gif"`, string(details[0].Input))
}

func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 3}`))
	f.Add([]byte(`{"num_images": -1, "aspect_ratio": "0x0"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"image_prompt_1": {}, "output_format": "webp"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, details := parseInput(body)
		require.GreaterOrEqual(t, in.numImages, 1)
		require.LessOrEqual(t, in.numImages, maxImages)
		require.GreaterOrEqual(t, in.width, minSize)
		require.LessOrEqual(t, in.width, maxSize)
		require.GreaterOrEqual(t, in.height, minSize)
		require.LessOrEqual(t, in.height, maxSize)
		require.Contains(t, imageFormats, in.format)
		for _, d := range details {
			require.NotEmpty(t, d.Type)
			require.NotEmpty(t, d.Msg)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	f.Add("1024x1024")
	f.Add("64x4096")
	f.Add("+100x100")
	f.Add("99999x1")
	f.Fuzz(func(t *testing.T, s string) {
		w, h, ok := parseSize(s)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, w, minSize)
		require.LessOrEqual(t, w, maxSize)
		require.GreaterOrEqual(t, h, minSize)
		require.LessOrEqual(t, h, maxSize)
		w2, h2, ok := parseSize(fmt.Sprintf("%dx%d", w, h))
		require.True(t, ok)
		require.Equal(t, [2]int{w, h}, [2]int{w2, h2})
	})
}

// Each shape of Config.NSFWUnknownRate hides every flag, one image or more.
func TestNSFWShapeEncode(t *testing.T) {
	t.Parallel()

	tests := []struct {
		shape nsfwShape
		flags []bool
		want  string // "" omits the field
	}{
		{nsfwOmitted, []bool{true, false}, ""},
		{nsfwNull, []bool{true, false}, "null"},
		{nsfwShort, []bool{true, false}, "[true]"},
		{nsfwShort, []bool{true}, "[]"},
		{nsfwStrings, []bool{true, false}, `["true","false"]`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.shape, tt.flags), func(t *testing.T) {
			t.Parallel()
			got, err := tt.shape.encode(tt.flags)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
	_, err := nsfwShapeCount.encode([]bool{true})
	require.ErrorContains(t, err, "unknown has_nsfw_concepts shape")
}
