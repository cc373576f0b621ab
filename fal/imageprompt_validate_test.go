package fal

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseImagePromptInputRejects(t *testing.T) {
	t.Parallel()

	const (
		imageURLMsg   = "must be an absolute http(s) URL or a base64 data: URI"
		emptyImageMsg = "must not be empty; leave the field out, or send null, for no image"
		// emptyPromptImageMsg is an image prompt's own image_url's.
		emptyPromptImageMsg = "must not be empty: an image prompt without an image has no effect"
		aspectMsg           = `must be "<width>x<height>" such as "1024x1024"`
		numImagesMsg        = "must be an integer between 1 and 4"
		seedRangeMsg        = "must be an integer between 0 and 18446744073709551615"
		outpaintEnum        = `must be one of "Left", "Right", "Top", "Bottom"`
		syncModeMsg         = "sync_mode is not supported: results would be returned inline and bypass Easel's history"
		base64Message       = "data URI data is not valid base64"
	)
	sixLoras := `[{"path":"a"},{"path":"b"},{"path":"c"},{"path":"d"},{"path":"e"},{"path":"f"}]`

	tests := []struct {
		name  string
		input string
		want  []string // "path: message", in the reported order
	}{
		// image_prompt_1..4
		{"image_prompt_1 missing", `{}`, []string{"image_prompt_1: is required"}},
		{"image_prompt_1 null", `{"image_prompt_1":null}`, []string{"image_prompt_1: is required"}},
		{"image_prompt_1 not an object", `{"image_prompt_1":"https://example.com/a.png"}`, []string{"image_prompt_1: must be an object, not a string"}},
		{"image_prompt_1 without image_url", `{"image_prompt_1":{"type":"CPDS"}}`, []string{"image_prompt_1.image_url: is required"}},
		{"image_prompt_1 image_url null", `{"image_prompt_1":{"image_url":null}}`, []string{"image_prompt_1.image_url: is required"}},
		{"image_url ftp", `{"image_prompt_1":{"image_url":"ftp://example.com/a.png"}}`, []string{"image_prompt_1.image_url: " + imageURLMsg}},
		{"image_url relative", `{"image_prompt_1":{"image_url":"/a.png"}}`, []string{"image_prompt_1.image_url: " + imageURLMsg}},
		{"image_url without host", `{"image_prompt_1":{"image_url":"https:///a.png"}}`, []string{"image_prompt_1.image_url: " + imageURLMsg}},
		{"image_url with credentials", `{"image_prompt_1":{"image_url":"https://user:secret@example.com/a.png"}}`, []string{"image_prompt_1.image_url: must not contain credentials"}},
		{"image_url too long", `{"image_prompt_1":{"image_url":"https://example.com/` + strings.Repeat("a", 2048) + `"}}`, []string{"image_prompt_1.image_url: must be at most 2048 bytes long"}},
		{"image_url number", `{"image_prompt_1":{"image_url":7}}`, []string{"image_prompt_1.image_url: must be a string, not a number"}},
		{"image prompt weight above 2", withImagePrompt(`"image_prompt_2":{"image_url":"https://example.com/b","weight":2.5}`), []string{"image_prompt_2.weight: must be a number between 0 and 2"}},
		{"image prompt weight string", withImagePrompt(`"image_prompt_2":{"image_url":"https://example.com/b","weight":"1"}`), []string{"image_prompt_2.weight: must be a number, not a string"}},
		{"image prompt stop_at below 0", withImagePrompt(`"image_prompt_3":{"image_url":"https://example.com/c","stop_at":-0.1}`), []string{"image_prompt_3.stop_at: must be a number between 0 and 1"}},
		{"image prompt type unknown", withImagePrompt(`"image_prompt_4":{"image_url":"https://example.com/d","type":"Canny"}`), []string{`image_prompt_4.type: must be one of "ImagePrompt", "PyraCanny", "CPDS", "FaceSwap"`}},
		{"image prompt type case", withImagePrompt(`"image_prompt_4":{"image_url":"https://example.com/d","type":"pyracanny"}`), []string{`image_prompt_4.type: unknown value "pyracanny"; did you mean "PyraCanny"?`}},
		{"image prompt typo", withImagePrompt(`"image_prompt_2":{"imageurl":"https://example.com/b"}`), []string{"image_prompt_2.image_url: is required", `image_prompt_2.imageurl: unknown field; did you mean "image_url"?`}},
		{"image prompt duplicate member", `{"image_prompt_1":{"image_url":"https://example.com/a","weight":1,"weight":3}}`, []string{"image_prompt_1.weight: duplicate field"}},
		{"image_prompt_5", withImagePrompt(`"image_prompt_5":{"image_url":"https://example.com/e"}`), []string{`image_prompt_5: unknown field; did you mean "image_prompt_1"?`}},

		// prompts
		{"prompt number", withImagePrompt(`"prompt":123`), []string{"prompt: must be a string, not a number"}},
		{"prompt too long", withImagePrompt(`"prompt":"` + strings.Repeat("a", maxPromptChars+1) + `"`), []string{"prompt: must be at most 10000 characters long"}},
		{"negative_prompt boolean", withImagePrompt(`"negative_prompt":true`), []string{"negative_prompt: must be a string, not a boolean"}},
		{"inpaint_additional_prompt too long", withImagePrompt(`"inpaint_additional_prompt":"` + strings.Repeat("é", maxPromptChars+1) + `"`), []string{"inpaint_additional_prompt: must be at most 10000 characters long"}},

		// styles
		{"styles string", withImagePrompt(`"styles":"Fooocus V2"`), []string{"styles: must be an array, not a string"}},
		{"styles unknown", withImagePrompt(`"styles":["Fooocus V2","Nope"]`), []string{`styles[1]: unknown value "Nope"`}},
		{"styles case", withImagePrompt(`"styles":["sai anime"]`), []string{`styles[0]: unknown value "sai anime"; did you mean "SAI Anime"?`}},
		{"styles duplicate", withImagePrompt(`"styles":["Fooocus V2","Fooocus Sharp","Fooocus V2"]`), []string{`styles[2]: duplicate value "Fooocus V2"`}},
		{"styles element types", withImagePrompt(`"styles":[1,null,{}]`), []string{"styles[0]: must be a string, not a number", "styles[1]: must be a string, not null", "styles[2]: must be a string, not an object"}},

		// scalars and enums
		{"performance unknown", withImagePrompt(`"performance":"fast"`), []string{`performance: must be one of "Speed", "Quality", "Extreme Speed", "Lightning"`}},
		{"performance case", withImagePrompt(`"performance":"speed"`), []string{`performance: unknown value "speed"; did you mean "Speed"?`}},
		{"guidance_scale below 1", withImagePrompt(`"guidance_scale":0.5`), []string{"guidance_scale: must be a number between 1 and 30"}},
		{"guidance_scale above 30", withImagePrompt(`"guidance_scale":31`), []string{"guidance_scale: must be a number between 1 and 30"}},
		{"guidance_scale overflow", withImagePrompt(`"guidance_scale":1e400`), []string{"guidance_scale: must be a number between 1 and 30"}},
		{"guidance_scale string", withImagePrompt(`"guidance_scale":"4"`), []string{"guidance_scale: must be a number, not a string"}},
		{"guidance_scale NaN string", withImagePrompt(`"guidance_scale":"NaN"`), []string{"guidance_scale: must be a number, not a string"}},
		{"sharpness negative", withImagePrompt(`"sharpness":-1`), []string{"sharpness: must be a number between 0 and 30"}},
		{"refiner_model case", withImagePrompt(`"refiner_model":"none"`), []string{`refiner_model: unknown value "none"; did you mean "None"?`}},
		{"refiner_switch above 1", withImagePrompt(`"refiner_switch":1.5`), []string{"refiner_switch: must be a number between 0 and 1"}},
		{"output_format jpg", withImagePrompt(`"output_format":"jpg"`), []string{`output_format: must be one of "png", "jpeg", "webp"`}},
		{"inpaint_mode unknown", withImagePrompt(`"inpaint_mode":"Inpaint"`), []string{`inpaint_mode: must be one of "Inpaint or Outpaint (default)", "Improve Detail (face, hand, eyes, etc.)", "Modify Content (add objects, change background, etc.)"`}},
		{"uov_method unknown", withImagePrompt(`"uov_method":"Upscale (3x)"`), []string{`uov_method: must be one of "Disabled", "Vary (Subtle)", "Vary (Strong)", "Upscale (1.5x)", "Upscale (2x)", "Upscale (Fast 2x)"`}},
		{"mixing_image_prompt_and_inpaint string", withImagePrompt(`"mixing_image_prompt_and_inpaint":"yes"`), []string{"mixing_image_prompt_and_inpaint: must be a boolean, not a string"}},
		{"mixing_image_prompt_and_vary_upscale number", withImagePrompt(`"mixing_image_prompt_and_vary_upscale":1`), []string{"mixing_image_prompt_and_vary_upscale: must be a boolean, not a number"}},
		{"enable_safety_checker string", withImagePrompt(`"enable_safety_checker":"true"`), []string{"enable_safety_checker: must be a boolean, not a string"}},

		// aspect_ratio
		{"aspect_ratio star", withImagePrompt(`"aspect_ratio":"1024*1024"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio capital X", withImagePrompt(`"aspect_ratio":"1024X1024"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio missing height", withImagePrompt(`"aspect_ratio":"1024x"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio leading zero", withImagePrompt(`"aspect_ratio":"01024x1024"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio spaces", withImagePrompt(`"aspect_ratio":"1024 x 1024"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio ratio", withImagePrompt(`"aspect_ratio":"16:9"`), []string{"aspect_ratio: " + aspectMsg}},
		{"aspect_ratio not multiple of 8", withImagePrompt(`"aspect_ratio":"1000x1020"`), []string{"aspect_ratio: width and height must be multiples of 8"}},
		{"aspect_ratio too large", withImagePrompt(`"aspect_ratio":"4096x1024"`), []string{"aspect_ratio: width and height must be between 256 and 2048"}},
		{"aspect_ratio too small", withImagePrompt(`"aspect_ratio":"1024x128"`), []string{"aspect_ratio: width and height must be between 256 and 2048"}},
		{"aspect_ratio number", withImagePrompt(`"aspect_ratio":1024`), []string{"aspect_ratio: must be a string, not a number"}},

		// num_images
		{"num_images zero", withImagePrompt(`"num_images":0`), []string{"num_images: " + numImagesMsg}},
		{"num_images five", withImagePrompt(`"num_images":5`), []string{"num_images: " + numImagesMsg}},
		{"num_images fraction", withImagePrompt(`"num_images":1.5`), []string{"num_images: " + numImagesMsg}},
		{"num_images written as float", withImagePrompt(`"num_images":2.0`), []string{"num_images: " + numImagesMsg}},
		{"num_images negative", withImagePrompt(`"num_images":-1`), []string{"num_images: " + numImagesMsg}},
		{"num_images string", withImagePrompt(`"num_images":"2"`), []string{"num_images: must be an integer, not a string"}},

		// loras
		{"loras six", withImagePrompt(`"loras":` + sixLoras), []string{"loras: must have at most 5 items, not 6"}},
		{"loras object", withImagePrompt(`"loras":{"path":"a"}`), []string{"loras: must be an array, not an object"}},
		{"lora without path", withImagePrompt(`"loras":[{"scale":1}]`), []string{"loras[0].path: is required"}},
		{"lora empty path and scale too large", withImagePrompt(`"loras":[{"path":"a"},{"path":" ","scale":5}]`), []string{"loras[1].path: must not be empty", "loras[1].scale: must be a number between -4 and 4"}},
		{"lora scale too negative", withImagePrompt(`"loras":[{"path":"a","scale":-4.01}]`), []string{"loras[0].scale: must be a number between -4 and 4"}},
		{"lora scale string", withImagePrompt(`"loras":[{"path":"a","scale":"-1"}]`), []string{"loras[0].scale: must be a number, not a string"}},
		{"lora path too long", withImagePrompt(`"loras":[{"path":"` + strings.Repeat("a", 2049) + `"}]`), []string{"loras[0].path: must be at most 2048 bytes long"}},
		{"lora unknown member", withImagePrompt(`"loras":[{"path":"a","force":true}]`), []string{"loras[0].force: unknown field"}},
		{"lora null", withImagePrompt(`"loras":[null]`), []string{"loras[0]: must be an object, not null"}},

		// sync_mode
		{"sync_mode true", withImagePrompt(`"sync_mode":true`), []string{"sync_mode: " + syncModeMsg}},
		{"sync_mode string", withImagePrompt(`"sync_mode":"false"`), []string{"sync_mode: must be a boolean, not a string"}},

		// seed
		{"seed negative", withImagePrompt(`"seed":-1`), []string{"seed: " + seedRangeMsg}},
		{"seed fraction", withImagePrompt(`"seed":1.5`), []string{"seed: " + seedRangeMsg}},
		{"seed exponent", withImagePrompt(`"seed":1e3`), []string{"seed: " + seedRangeMsg}},
		{"seed beyond uint64", withImagePrompt(`"seed":18446744073709551616`), []string{"seed: " + seedRangeMsg}},
		{"seed string", withImagePrompt(`"seed":"42"`), []string{"seed: must be an integer, not a string"}},

		// image fields
		{"inpaint_image_url empty", withImagePrompt(`"inpaint_image_url":""`), []string{"inpaint_image_url: " + emptyImageMsg}},
		{"mask_image_url empty", withImagePrompt(`"mask_image_url":""`), []string{"mask_image_url: " + emptyImageMsg}},
		{"uov_image_url empty", withImagePrompt(`"uov_image_url":""`), []string{"uov_image_url: " + emptyImageMsg}},
		{"image_prompt_1 image_url empty", `{"image_prompt_1":{"image_url":""}}`, []string{"image_prompt_1.image_url: " + emptyPromptImageMsg}},
		{"image_prompt_2 image_url empty", withImagePrompt(`"image_prompt_2":{"image_url":""}`), []string{"image_prompt_2.image_url: " + emptyPromptImageMsg}},
		// fal's schema leaves image_url optional, but an image prompt
		// without an image steers nothing.
		{"image_prompt_2 without image_url", withImagePrompt(`"image_prompt_2":{"type":"PyraCanny","weight":1}`), []string{"image_prompt_2.image_url: is required"}},
		{"image_prompt_4 empty", withImagePrompt(`"image_prompt_4":{}`), []string{"image_prompt_4.image_url: is required"}},
		{"inpaint_image_url words", withImagePrompt(`"inpaint_image_url":"not a url"`), []string{"inpaint_image_url: " + imageURLMsg}},
		{"mask_image_url number", withImagePrompt(`"mask_image_url":5`), []string{"mask_image_url: must be a string, not a number"}},
		{"uov_image_url scheme only", withImagePrompt(`"uov_image_url":"http://"`), []string{"uov_image_url: " + imageURLMsg}},
		{"data URI not base64", withImagePrompt(`"mask_image_url":"data:image/png,abc"`), []string{"mask_image_url: data URI must be base64-encoded: data:<image type>;base64,<data>"}},
		{"data URI without comma", withImagePrompt(`"mask_image_url":"data:image/png;base64"`), []string{"mask_image_url: data URI has no ',' before its data"}},
		{"data URI not an image", withImagePrompt(`"mask_image_url":"data:text/plain;base64,AAAA"`), []string{"mask_image_url: data URI must have an image media type such as image/png"}},
		{"data URI without media type", withImagePrompt(`"mask_image_url":"data:;base64,AAAA"`), []string{"mask_image_url: data URI must have an image media type such as image/png"}},
		{"data URI bad base64", withImagePrompt(`"mask_image_url":"data:image/png;base64,!!!!"`), []string{"mask_image_url: " + base64Message}},
		{"data URI unpadded", withImagePrompt(`"mask_image_url":"data:image/png;base64,AAA"`), []string{"mask_image_url: " + base64Message}},
		{"data URI empty", withImagePrompt(`"mask_image_url":"data:image/png;base64,"`), []string{"mask_image_url: data URI has no data"}},
		{"data URI in image prompt", withImagePrompt(`"image_prompt_2":{"image_url":"data:image/png;base64,=AAA"}`), []string{"image_prompt_2.image_url: " + base64Message}},

		// outpaint_selections
		{"outpaint_selections unknown", withImagePrompt(`"outpaint_selections":["Up"]`), []string{"outpaint_selections[0]: " + outpaintEnum}},
		{"outpaint_selections duplicate", withImagePrompt(`"outpaint_selections":["Left","Top","Left"]`), []string{`outpaint_selections[2]: duplicate value "Left"`}},
		{"outpaint_selections string", withImagePrompt(`"outpaint_selections":"Left"`), []string{"outpaint_selections: must be an array, not a string"}},
		{"outpaint_selections too many", withImagePrompt(`"outpaint_selections":["Left","Right","Top","Bottom","Left"]`), []string{"outpaint_selections: must have at most 4 items, not 5"}},

		// unknown and duplicate fields
		{"typo", withImagePrompt(`"promt":"a cat"`), []string{`promt: unknown field; did you mean "prompt"?`}},
		{"typo in case", withImagePrompt(`"Seed":1`), []string{`Seed: unknown field; did you mean "seed"?`}},
		{"API field left in", withImagePrompt(`"priority":"low"`), []string{"priority: unknown field"}},
		{"duplicate field", withImagePrompt(`"prompt":"a","prompt":"b"`), []string{"prompt: duplicate field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			in, err := ParseImagePromptInput([]byte(tt.input))
			require.Nil(t, in)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			got := make([]string, len(verr.Fields))
			for i, f := range verr.Fields {
				got[i] = f.Field + ": " + f.Message
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidationErrorJSON(t *testing.T) {
	t.Parallel()

	// The HTTP API returns the fields as the details of its 422 answer.
	encoded, err := json.Marshal(FieldError{Field: "loras[3].scale", Message: "must be a number between 0 and 4"})
	require.NoError(t, err)
	require.JSONEq(t, `{"field":"loras[3].scale","message":"must be a number between 0 and 4"}`, string(encoded))
}

// TestCheckImageURL covers the image checks on their own, where a value at the data URI size limit is cheap to test.
func TestCheckImageURL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"https", "https://v3.fal.media/files/rabbit/q1Xy7.jpeg", ""},
		{"http with port and query", "http://127.0.0.1:8080/a.png?sig=abc", ""},
		{"scheme in capitals", "HTTPS://example.com/a.png", ""},
		{"URL at the length limit", "https://example.com/" + strings.Repeat("a", maxImageURLLength-len("https://example.com/")), ""},
		{"data URI at the size limit", dataURI("image/png", MaxImageDataSize), ""},
		{"data URI with line breaks", "data:image/png;base64,AAAA\r\nAAAA", ""},
		{"data URI over the size limit", dataURI("image/png", MaxImageDataSize+1), "data URI data must decode to at most 5242880 bytes (5 MiB)"},
		{"URL over the length limit", "https://example.com/" + strings.Repeat("a", maxImageURLLength+1-len("https://example.com/")), "must be at most 2048 bytes long"},
		{"control character", "https://example.com/a\x00.png", "must be an absolute http(s) URL or a base64 data: URI"},
		{"opaque", "https:example.com/a.png", "must be an absolute http(s) URL or a base64 data: URI"},
		{"file", "file:///etc/passwd", "must be an absolute http(s) URL or a base64 data: URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, checkImageURL(tt.value))
		})
	}
}
