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
			want: modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
		},
		{
			name: "explicit fields",
			body: `{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 3, "enable_safety_checker": false}`,
			want: modelInput{width: 832, height: 1216, numImages: 3, safetyChecker: false},
		},
		{
			name:      "missing image prompt",
			body:      `{"prompt": "a cat"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
			wantTypes: []string{"missing"},
		},
		{
			name:      "null image prompt",
			body:      `{"image_prompt_1": null}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
			wantTypes: []string{"missing"},
		},
		{
			name:      "num_images out of range and bad aspect ratio",
			body:      `{"image_prompt_1": {}, "num_images": 5, "aspect_ratio": "square"}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
			wantTypes: []string{"less_than_equal", "value_error"},
		},
		{
			name:      "num_images zero",
			body:      `{"image_prompt_1": {}, "num_images": 0}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
			wantTypes: []string{"greater_than_equal"},
		},
		{
			name:      "wrong types",
			body:      `{"image_prompt_1": "x", "num_images": "two", "enable_safety_checker": 1}`,
			want:      modelInput{width: 1024, height: 1024, numImages: 1, safetyChecker: true},
			wantTypes: []string{"model_attributes_type", "int_parsing", "bool_parsing"},
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

func FuzzParseInput(f *testing.F) {
	f.Add([]byte(`{"image_prompt_1": {}, "aspect_ratio": "832x1216", "num_images": 3}`))
	f.Add([]byte(`{"num_images": -1, "aspect_ratio": "0x0"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, details := parseInput(body)
		require.GreaterOrEqual(t, in.numImages, 1)
		require.LessOrEqual(t, in.numImages, maxImages)
		require.GreaterOrEqual(t, in.width, minSize)
		require.LessOrEqual(t, in.width, maxSize)
		require.GreaterOrEqual(t, in.height, minSize)
		require.LessOrEqual(t, in.height, maxSize)
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
