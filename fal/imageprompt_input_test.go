package fal

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const pikachuURL = "https://storage.googleapis.com/falserverless/model_tests/fooocus/Pikachu.webp"

// falExampleInput is the input of fal's own example request for fal-ai/fooocus/image-prompt.
const falExampleInput = `{"image_prompt_1":{"weight":1,"stop_at":1,"type":"PyraCanny","image_url":"` + pikachuURL + `"}}`

// falDocumentedInput is the complete input that fal's schema page shows, every default spelled out.
const falDocumentedInput = `{
  "prompt": "pikachu",
  "negative_prompt": "(worst quality, low quality:1.4), blurry",
  "styles": ["Fooocus Enhance", "Fooocus V2", "Fooocus Sharp"],
  "performance": "Extreme Speed",
  "guidance_scale": 4,
  "sharpness": 2,
  "aspect_ratio": "1024x1024",
  "num_images": 1,
  "loras": [{"path": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_offset_example-lora_1.0.safetensors", "scale": 0.1}],
  "refiner_model": "None",
  "refiner_switch": 0.8,
  "output_format": "jpeg",
  "seed": 176400,
  "image_prompt_1": {"weight": 1, "stop_at": 1, "type": "PyraCanny", "image_url": "` + pikachuURL + `"},
  "inpaint_mode": "Inpaint or Outpaint (default)",
  "outpaint_selections": [],
  "uov_method": "Disabled",
  "enable_safety_checker": true
}`

// withImagePrompt returns an input object with a valid image_prompt_1 and the given extra members.
func withImagePrompt(members string) string {
	if members == "" {
		return `{"image_prompt_1":{"image_url":"https://example.com/a.png"}}`
	}
	return `{"image_prompt_1":{"image_url":"https://example.com/a.png"},` + members + `}`
}

func dataURI(mediaType string, size int) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(make([]byte, size))
}

func TestParseImagePromptInputFalExample(t *testing.T) {
	t.Parallel()

	in, err := ParseImagePromptInput([]byte(falExampleInput))
	require.NoError(t, err)

	encoded, err := json.Marshal(in)
	require.NoError(t, err)

	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(encoded, &got))
	want := map[string]string{
		"prompt":                               `""`,
		"negative_prompt":                      `""`,
		"styles":                               `["Fooocus Enhance","Fooocus V2","Fooocus Sharp"]`,
		"performance":                          `"Extreme Speed"`,
		"guidance_scale":                       `4`,
		"sharpness":                            `2`,
		"aspect_ratio":                         `"1024x1024"`,
		"num_images":                           `1`,
		"loras":                                `[{"path":"` + defaultLoraPath + `","scale":0.1}]`,
		"refiner_model":                        `"None"`,
		"refiner_switch":                       `0.8`,
		"output_format":                        `"jpeg"`,
		"sync_mode":                            `false`,
		"image_prompt_1":                       `{"image_url":"` + pikachuURL + `","type":"PyraCanny","weight":1,"stop_at":1}`,
		"inpaint_mode":                         `"Inpaint or Outpaint (default)"`,
		"inpaint_additional_prompt":            `""`,
		"outpaint_selections":                  `[]`,
		"mixing_image_prompt_and_inpaint":      `false`,
		"uov_method":                           `"Disabled"`,
		"mixing_image_prompt_and_vary_upscale": `false`,
		"enable_safety_checker":                `true`,
	}
	for name, value := range want {
		require.Contains(t, got, name)
		require.JSONEq(t, value, string(got[name]), name)
	}
	require.Len(t, got, len(want), "no seed, image_prompt_2..4 or image URLs when none were given")

	// The encoding follows fal's schema order, so stored inputs read like fal's documentation.
	require.Equal(t, `{"prompt":"","negative_prompt":"","styles":["Fooocus Enhance","Fooocus V2","Fooocus Sharp"],`+
		`"performance":"Extreme Speed","guidance_scale":4,"sharpness":2,"aspect_ratio":"1024x1024","num_images":1,`+
		`"loras":[{"path":"`+defaultLoraPath+`","scale":0.1}],"refiner_model":"None","refiner_switch":0.8,`+
		`"output_format":"jpeg","sync_mode":false,`+
		`"image_prompt_1":{"image_url":"`+pikachuURL+`","type":"PyraCanny","weight":1,"stop_at":1},`+
		`"inpaint_mode":"Inpaint or Outpaint (default)","inpaint_additional_prompt":"","outpaint_selections":[],`+
		`"mixing_image_prompt_and_inpaint":false,"uov_method":"Disabled","mixing_image_prompt_and_vary_upscale":false,`+
		`"enable_safety_checker":true}`, string(encoded))
}

// TestParseImagePromptInputDefaultsMatchFal checks the defaults against the complete example on fal's schema page.
func TestParseImagePromptInputDefaultsMatchFal(t *testing.T) {
	t.Parallel()

	documented, err := ParseImagePromptInput([]byte(falDocumentedInput))
	require.NoError(t, err)
	defaulted, err := ParseImagePromptInput([]byte(falExampleInput))
	require.NoError(t, err)

	defaulted.Prompt = documented.Prompt
	defaulted.NegativePrompt = documented.NegativePrompt
	defaulted.Seed = documented.Seed
	require.Equal(t, defaulted, documented)
	require.Equal(t, uint64(176400), *documented.Seed)
}

func TestParseImagePromptInputImagePromptDefaults(t *testing.T) {
	t.Parallel()

	in, err := ParseImagePromptInput([]byte(withImagePrompt(`"image_prompt_3":{"image_url":"http://example.com/b.png"}`)))
	require.NoError(t, err)
	require.Equal(t, ImagePrompt{ImageURL: "https://example.com/a.png", Type: "ImagePrompt", Weight: 1, StopAt: 0.5}, in.ImagePrompt1)
	require.Nil(t, in.ImagePrompt2)
	require.Equal(t, &ImagePrompt{ImageURL: "http://example.com/b.png", Type: "ImagePrompt", Weight: 1, StopAt: 0.5}, in.ImagePrompt3)
	require.Nil(t, in.ImagePrompt4)
}

func TestParseImagePromptInputSeed(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		seed    string
		want    uint64
		wantRaw string
	}{
		{name: "zero", seed: "0", want: 0, wantRaw: `"seed":0,`},
		{name: "int64 range", seed: "176400", want: 176400, wantRaw: `"seed":176400,`},
		{name: "beyond int64 as seen from fal", seed: "17454220438242315174", want: 17454220438242315174, wantRaw: `"seed":17454220438242315174,`},
		{name: "largest", seed: "18446744073709551615", want: 18446744073709551615, wantRaw: `"seed":18446744073709551615,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in, err := ParseImagePromptInput([]byte(withImagePrompt(`"seed":` + tt.seed)))
			require.NoError(t, err)
			require.NotNil(t, in.Seed)
			require.Equal(t, tt.want, *in.Seed)

			encoded, err := json.Marshal(in)
			require.NoError(t, err)
			require.Contains(t, string(encoded), tt.wantRaw)

			again, err := ParseImagePromptInput(encoded)
			require.NoError(t, err)
			require.Equal(t, tt.want, *again.Seed)
		})
	}

	t.Run("null or absent lets fal choose", func(t *testing.T) {
		t.Parallel()

		for _, input := range []string{withImagePrompt(`"seed":null`), withImagePrompt("")} {
			in, err := ParseImagePromptInput([]byte(input))
			require.NoError(t, err)
			require.Nil(t, in.Seed)

			encoded, err := json.Marshal(in)
			require.NoError(t, err)
			require.NotContains(t, string(encoded), "seed")
		}
	})
}

// TestParseImagePromptInputAccepts covers valid inputs whose handling is a decision worth pinning.
func TestParseImagePromptInputAccepts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		input string
		check func(t *testing.T, in *ImagePromptInput)
	}{
		{
			name:  "null takes the default",
			input: withImagePrompt(`"styles":null,"guidance_scale":null,"loras":null,"enable_safety_checker":null,"image_prompt_2":null`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, defaultImagePromptInput().Styles, in.Styles)
				require.InDelta(t, 4.0, in.GuidanceScale, 0)
				require.Equal(t, defaultImagePromptInput().Loras, in.Loras)
				require.True(t, in.EnableSafetyChecker)
				require.Nil(t, in.ImagePrompt2)
			},
		},
		{
			name:  "empty lists stay empty",
			input: withImagePrompt(`"styles":[],"loras":[],"outpaint_selections":[]`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, []string{}, in.Styles)
				require.Equal(t, []LoraWeight{}, in.Loras)
				require.Equal(t, []string{}, in.OutpaintSelections)
			},
		},
		{
			name:  "five LoRAs with the default scale",
			input: withImagePrompt(`"loras":[{"path":"a/b"},{"path":"c/d","scale":4},{"path":"e/f","scale":0},{"path":"g/h"},{"path":"https://example.com/l.safetensors"}]`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Len(t, in.Loras, maxLoras)
				require.Equal(t, LoraWeight{Path: "a/b", Scale: 0.1}, in.Loras[0])
				require.Equal(t, LoraWeight{Path: "c/d", Scale: 4}, in.Loras[1])
			},
		},
		{
			// Fooocus offers LoRA weights from -2 to 2: a negative one takes
			// the LoRA's style away.
			name:  "negative LoRA scales",
			input: withImagePrompt(`"loras":[{"path":"a/b","scale":-2},{"path":"c/d","scale":-4},{"path":"e/f","scale":-0.35}]`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, []LoraWeight{{Path: "a/b", Scale: -2}, {Path: "c/d", Scale: -4}, {Path: "e/f", Scale: -0.35}}, in.Loras)
			},
		},
		{
			name:  "bounds are inclusive",
			input: withImagePrompt(`"guidance_scale":30,"sharpness":0,"num_images":4,"refiner_switch":1,"aspect_ratio":"2048x256","image_prompt_2":{"image_url":"https://example.com/b","weight":2,"stop_at":0}`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, "2048x256", in.AspectRatio)
				require.Equal(t, 4, in.NumImages)
				require.InDelta(t, 2.0, in.ImagePrompt2.Weight, 0)
			},
		},
		{
			name:  "every enum",
			input: withImagePrompt(`"performance":"Lightning","refiner_model":"realisticVisionV60B1_v51VAE.safetensors","output_format":"webp","inpaint_mode":"Modify Content (add objects, change background, etc.)","uov_method":"Upscale (Fast 2x)","outpaint_selections":["Bottom","Left","Right","Top"],"image_prompt_4":{"image_url":"https://example.com/d","type":"FaceSwap"}`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, "Lightning", in.Performance)
				require.Equal(t, []string{"Bottom", "Left", "Right", "Top"}, in.OutpaintSelections)
				require.Equal(t, "FaceSwap", in.ImagePrompt4.Type)
			},
		},
		{
			name:  "sync_mode false",
			input: withImagePrompt(`"sync_mode":false`),
			check: func(t *testing.T, in *ImagePromptInput) { require.False(t, in.SyncMode) },
		},
		{
			name:  "data URIs",
			input: withImagePrompt(`"mask_image_url":"` + dataURI("image/png", 64<<10) + `","uov_image_url":"DATA:image/webp;name=x.webp;BASE64,AAAA"`),
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, dataURI("image/png", 64<<10), in.MaskImageURL)
				require.Equal(t, "DATA:image/webp;name=x.webp;BASE64,AAAA", in.UovImageURL)
			},
		},
		{
			name:  "prompts at the length limit counted in characters",
			input: withImagePrompt(`"prompt":"` + strings.Repeat("é", maxPromptChars) + `"`),
			check: func(t *testing.T, in *ImagePromptInput) { require.Len(t, []rune(in.Prompt), maxPromptChars) },
		},
		{
			name:  "whitespace everywhere",
			input: " \n\t" + withImagePrompt(` "prompt" : "a cat" , "styles" : [ "SAI Anime" ] , "loras" : [ { "path" : "a/b" } ] `) + "\r\n ",
			check: func(t *testing.T, in *ImagePromptInput) {
				require.Equal(t, "a cat", in.Prompt)
				require.Equal(t, []string{"SAI Anime"}, in.Styles)
				require.Equal(t, []LoraWeight{{Path: "a/b", Scale: 0.1}}, in.Loras)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in, err := ParseImagePromptInput([]byte(tt.input))
			require.NoError(t, err)
			tt.check(t, in)
		})
	}
}

func TestParseImagePromptInputIdempotent(t *testing.T) {
	t.Parallel()

	inputs := []string{
		falExampleInput,
		falDocumentedInput,
		withImagePrompt(`"styles":[],"loras":[],"seed":17454220438242315174,"refiner_switch":0.6667,"guidance_scale":1e1`),
		withImagePrompt(`"prompt":"line\nbreak \u2028 \"quoted\" <b>&","image_prompt_2":{"image_url":"` + dataURI("image/jpeg", 10) + `","weight":0.25}`),
		withImagePrompt(`"inpaint_image_url":"https://example.com/i.png","mask_image_url":"https://example.com/m.png","outpaint_selections":["Top"],"mixing_image_prompt_and_inpaint":true`),
	}
	for _, input := range inputs {
		first, err := ParseImagePromptInput([]byte(input))
		require.NoError(t, err)

		encoded, err := json.Marshal(first)
		require.NoError(t, err)
		second, err := ParseImagePromptInput(encoded)
		require.NoError(t, err)
		require.Equal(t, first, second)

		encodedAgain, err := json.Marshal(second)
		require.NoError(t, err)
		require.Equal(t, string(encoded), string(encodedAgain))
	}
}

func TestParseImagePromptInputReportsEveryError(t *testing.T) {
	t.Parallel()

	_, err := ParseImagePromptInput([]byte(`{
		"zzz": 1,
		"seed": -1,
		"image_prompt_2": {"image_url": "https://example.com/b.png", "weight": 3, "stop_at": "1"},
		"styles": ["Fooocus V2", "Fooocus v3", "Fooocus V2"],
		"guidance_scale": 0,
		"sync_mode": true,
		"loras": [{"path": "a/b", "scale": -5}, {"scale": 1}],
		"promt": "a cat"
	}`))

	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, []FieldError{
		{Field: "styles[1]", Message: `unknown value "Fooocus v3"`},
		{Field: "styles[2]", Message: `duplicate value "Fooocus V2"`},
		{Field: "guidance_scale", Message: "must be a number between 1 and 30"},
		{Field: "loras[0].scale", Message: "must be a number between -4 and 4"},
		{Field: "loras[1].path", Message: "is required"},
		{Field: "sync_mode", Message: "sync_mode is not supported: results would be returned inline and bypass Easel's history"},
		{Field: "seed", Message: "must be an integer between 0 and 18446744073709551615"},
		{Field: "image_prompt_1", Message: "is required"},
		{Field: "image_prompt_2.weight", Message: "must be a number between 0 and 2"},
		{Field: "image_prompt_2.stop_at", Message: "must be a number, not a string"},
		{Field: "promt", Message: `unknown field; did you mean "prompt"?`},
		{Field: "zzz", Message: "unknown field"},
	}, verr.Fields)
	require.Equal(t, `invalid input: styles[1]: unknown value "Fooocus v3"; styles[2]: duplicate value "Fooocus V2"; `+
		`guidance_scale: must be a number between 1 and 30; loras[0].scale: must be a number between -4 and 4; `+
		`loras[1].path: is required; sync_mode: sync_mode is not supported: results would be returned inline and bypass `+
		`Easel's history; seed: must be an integer between 0 and 18446744073709551615; image_prompt_1: is required; `+
		`image_prompt_2.weight: must be a number between 0 and 2; image_prompt_2.stop_at: must be a number, not a string; `+
		`promt: unknown field; did you mean "prompt"?; zzz: unknown field`, err.Error())
}

func TestParseImagePromptInputMalformed(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		input string
		want  FieldError
	}{
		{name: "empty", input: "", want: FieldError{Message: "malformed JSON at byte offset 0: unexpected end of JSON input"}},
		{name: "truncated", input: `{"prompt":"a"`, want: FieldError{Message: "malformed JSON at byte offset 13: unexpected end of JSON input"}},
		{name: "bad value", input: `{"prompt": nope}`, want: FieldError{Field: "prompt", Message: "malformed JSON at byte offset 11: invalid character 'o' in literal null (expecting 'u')"}},
		{name: "unterminated string", input: `{"prompt": "a}`, want: FieldError{Field: "prompt", Message: "malformed JSON at byte offset 14: unexpected end of JSON input"}},
		{name: "trailing comma", input: `{"prompt":"a",}`, want: FieldError{Message: "malformed JSON at byte offset 14: invalid character '}' looking for beginning of object key string"}},
		{name: "missing colon", input: `{"prompt" "a"}`, want: FieldError{Field: "prompt", Message: "malformed JSON at byte offset 10: expected colon after object key"}},
		{name: "data after the object", input: `{"prompt":"a"} {}`, want: FieldError{Message: "malformed JSON at byte offset 15: data after the object"}},
		{name: "array", input: `[{"prompt":"a"}]`, want: FieldError{Message: "must be a JSON object, not an array"}},
		{name: "null", input: `null`, want: FieldError{Message: "must be a JSON object, not null"}},
		{name: "string", input: ` "prompt"`, want: FieldError{Message: "must be a JSON object, not a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in, err := ParseImagePromptInput([]byte(tt.input))
			require.Nil(t, in)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, []FieldError{tt.want}, verr.Fields)
		})
	}
}

func TestParseImagePromptFields(t *testing.T) {
	t.Parallel()

	t.Run("same result as the whole object", func(t *testing.T) {
		t.Parallel()

		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(falDocumentedInput), &fields))
		fromFields, err := ParseImagePromptFields(fields)
		require.NoError(t, err)
		fromObject, err := ParseImagePromptInput([]byte(falDocumentedInput))
		require.NoError(t, err)
		require.Equal(t, fromObject, fromFields)
	})

	t.Run("values need not be trimmed", func(t *testing.T) {
		t.Parallel()

		in, err := ParseImagePromptFields(map[string]json.RawMessage{
			"image_prompt_1": json.RawMessage(` {"image_url":"https://example.com/a.png"} `),
			"seed":           json.RawMessage("\n42\n"),
		})
		require.NoError(t, err)
		require.Equal(t, uint64(42), *in.Seed)
	})

	t.Run("invalid", func(t *testing.T) {
		t.Parallel()

		_, err := ParseImagePromptFields(map[string]json.RawMessage{
			"prompt":   json.RawMessage(`{"unterminated"`),
			"seed":     nil,
			"priority": json.RawMessage(`"low"`),
		})
		var verr *ValidationError
		require.ErrorAs(t, err, &verr)
		require.Equal(t, []FieldError{
			{Field: "prompt", Message: "malformed JSON"},
			{Field: "image_prompt_1", Message: "is required"},
			{Field: "priority", Message: "unknown field"},
		}, verr.Fields)
	})

	t.Run("nil map", func(t *testing.T) {
		t.Parallel()

		_, err := ParseImagePromptFields(nil)
		var verr *ValidationError
		require.ErrorAs(t, err, &verr)
		require.Equal(t, []FieldError{{Field: "image_prompt_1", Message: "is required"}}, verr.Fields)
	})
}

// TestParseImagePromptInputRefusesAlteredStrings checks that a string encoding/json would read as U+FFFD, rather than as
// what the caller wrote, is refused in every string field, named by its path, instead of being stored and sent altered.
func TestParseImagePromptInputRefusesAlteredStrings(t *testing.T) {
	t.Parallel()

	const loneSurrogate = `must not contain an unpaired UTF-16 surrogate escape such as \ud800`
	tests := []struct {
		name  string
		input string
		want  []FieldError
	}{
		{name: "lone high surrogate in prompt", input: withImagePrompt(`"prompt":"a\ud800b"`),
			want: []FieldError{{Field: "prompt", Message: loneSurrogate}}},
		{name: "lone low surrogate", input: withImagePrompt(`"prompt":"a\udc00"`),
			want: []FieldError{{Field: "prompt", Message: loneSurrogate}}},
		{name: "high surrogate at the end", input: withImagePrompt(`"negative_prompt":"a\uD83D"`),
			want: []FieldError{{Field: "negative_prompt", Message: loneSurrogate}}},
		{name: "high surrogate before a non-surrogate escape", input: withImagePrompt(`"prompt":"\ud83d\u0041"`),
			want: []FieldError{{Field: "prompt", Message: loneSurrogate}}},
		{name: "surrogates in the wrong order", input: withImagePrompt(`"prompt":"\ude00\ud83d"`),
			want: []FieldError{{Field: "prompt", Message: loneSurrogate}}},
		{name: "after an escaped backslash", input: withImagePrompt(`"prompt":"\\\ud800"`),
			want: []FieldError{{Field: "prompt", Message: loneSurrogate}}},
		{name: "image URL", input: `{"image_prompt_1":{"image_url":"https://example.com/\ud800.png"}}`,
			want: []FieldError{{Field: "image_prompt_1.image_url", Message: loneSurrogate}}},
		{name: "style", input: withImagePrompt(`"styles":["Fooocus V2","Fooocus Sharp","Fooocus\udfff"]`),
			want: []FieldError{{Field: "styles[2]", Message: loneSurrogate}}},
		{name: "every field at once", input: `{"prompt":"\ud800","aspect_ratio":"\ud800","loras":[{"path":"a/\ud800"}],` +
			`"image_prompt_1":{"image_url":"https://example.com/a.png","type":"\ud800"},"inpaint_additional_prompt":"\ud800"}`,
			want: []FieldError{
				{Field: "prompt", Message: loneSurrogate},
				{Field: "aspect_ratio", Message: loneSurrogate},
				{Field: "loras[0].path", Message: loneSurrogate},
				{Field: "image_prompt_1.type", Message: loneSurrogate},
				{Field: "inpaint_additional_prompt", Message: loneSurrogate},
			}},
		// JSON text is UTF-8 (RFC 8259); a Go caller's bytes need not be.
		{name: "invalid UTF-8", input: withImagePrompt("\"prompt\":\"caf\xe9\",\"mask_image_url\":\"https://example.com/\xff\""),
			want: []FieldError{{Field: "prompt", Message: "must be valid UTF-8"}, {Field: "mask_image_url", Message: "must be valid UTF-8"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in, err := ParseImagePromptInput([]byte(tt.input))
			require.Nil(t, in)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.want, verr.Fields)

			// The HTTP API's path, which splits the object first, says the same.
			var fields map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(tt.input), &fields))
			_, err = ParseImagePromptFields(fields)
			require.ErrorAs(t, err, &verr)
			require.Equal(t, tt.want, verr.Fields)
		})
	}
}

func TestParseImagePromptInputKeepsEscapedText(t *testing.T) {
	t.Parallel()

	// A surrogate pair is one character; an escaped backslash before ud800 is the six characters \ud800; a NUL is left
	// to the caller, which names it (see inputParser.string).
	in, err := ParseImagePromptInput([]byte(withImagePrompt(`"prompt":"\ud83d\ude00 \uD83D\uDE00 \\ud800","negative_prompt":"a\u0000"`)))
	require.NoError(t, err)
	require.Equal(t, `😀 😀 \ud800`, in.Prompt)
	require.Equal(t, "a\x00", in.NegativePrompt)
}

func TestJSONBEscapeProblem(t *testing.T) {
	t.Parallel()

	const (
		nul           = `must not contain the NUL character (\u0000)`
		loneSurrogate = `must not contain an unpaired UTF-16 surrogate escape such as \ud800`
	)
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{name: "plain", raw: `{"k":["a",1,"é"]}`},
		{name: "surrogate pair", raw: `{"\ud83d\ude00":"\uD83D\uDE00"}`},
		{name: "escaped backslashes", raw: `{"literal":"\\u0000\\ud800\\"}`},
		{name: "other escapes", raw: `"\n\t\"\/\u0041"`},
		{name: "NUL", raw: `{"k":"a\u0000"}`, want: nul},
		{name: "lone high surrogate in a key", raw: `{"\ud800":1}`, want: loneSurrogate},
		{name: "lone low surrogate", raw: `"\udc00"`, want: loneSurrogate},
		{name: "high surrogate before a non-surrogate", raw: `"\ud800\u0041"`, want: loneSurrogate},
		{name: "high surrogate before another high one", raw: `"\ud800\ud800\udc00"`, want: loneSurrogate},
		{name: "surrogates in the wrong order", raw: `"\udc00\ud800"`, want: loneSurrogate},
		{name: "the first problem wins", raw: `["\ud800","\u0000"]`, want: loneSurrogate},
		{name: "the first problem wins, NUL", raw: `["\u0000","\ud800"]`, want: nul},
		{name: "truncated escape is not its concern", raw: `"\u00`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, JSONBEscapeProblem([]byte(tt.raw)))
		})
	}
}
