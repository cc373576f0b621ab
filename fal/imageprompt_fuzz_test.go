package fal

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzParseImagePromptInput checks that no input makes the parser panic, that every rejection is a ValidationError
// naming at least one problem, and that an accepted input is a fixed point: it re-encodes to JSON that parses to the
// same value and encodes to the same bytes, so what Easel stores is what it sends; and that an accepted input holds no
// string that encoding/json would have altered.
func FuzzParseImagePromptInput(f *testing.F) {
	for _, seed := range []string{
		falExampleInput,
		falDocumentedInput,
		withImagePrompt(`"seed":17454220438242315174,"styles":[],"loras":[]`),
		withImagePrompt(`"seed":null,"styles":null,"loras":[{"path":"a/b"}],"outpaint_selections":["Left","Top"]`),
		withImagePrompt(`"mask_image_url":"data:image/png;base64,iVBORw0KGgo=","aspect_ratio":"832x1216"`),
		withImagePrompt(`"image_prompt_2":{"image_url":"https://example.com/b","type":"CPDS","weight":0.5,"stop_at":0.25}`),
		withImagePrompt(`"prompt":"\u00e9\ud83d\ude00\u2028","sharpness":-0,"guidance_scale":1e1`),
		`{"image_prompt_1":{"image_url":"x","weight":"1","weight":2},"promt":1,"seed":-1,"sync_mode":true}`,
		withImagePrompt(`"prompt":"a\ud800b","styles":["\udc00"],"negative_prompt":"\\ud800\u0000"`),
		withImagePrompt("\"prompt\":\"caf\xe9\""),
		`{"prompt":"a"`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseImagePromptInput(data)
		if err != nil {
			require.Nil(t, in)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.NotEmpty(t, verr.Fields)
			return
		}
		require.False(t, in.SyncMode)
		// Nothing encoding/json would have read as U+FFFD was accepted: every key and string of an accepted input is
		// one it knows.
		require.True(t, utf8.Valid(data))
		require.Zero(t, findJSONEscape(data, escapeLoneSurrogate))

		encoded, err := json.Marshal(in)
		require.NoError(t, err)
		again, err := ParseImagePromptInput(encoded)
		require.NoError(t, err, "re-parse %s", encoded)
		require.Equal(t, in, again)

		encodedAgain, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(encoded), string(encodedAgain))
	})
}
