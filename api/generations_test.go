package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

// falDefaultedExample is falExampleInput as stored and sent: every default
// spelled out.
const falDefaultedExample = `{
	"prompt": "", "negative_prompt": "",
	"styles": ["Fooocus Enhance", "Fooocus V2", "Fooocus Sharp"],
	"performance": "Extreme Speed", "guidance_scale": 4, "sharpness": 2, "aspect_ratio": "1024x1024", "num_images": 1,
	"loras": [{"path": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_offset_example-lora_1.0.safetensors", "scale": 0.1}],
	"refiner_model": "None", "refiner_switch": 0.8, "output_format": "jpeg", "sync_mode": false,
	"image_prompt_1": {"image_url": "` + pikachuURL + `", "type": "PyraCanny", "weight": 1, "stop_at": 1},
	"inpaint_mode": "Inpaint or Outpaint (default)", "inpaint_additional_prompt": "", "outpaint_selections": [],
	"mixing_image_prompt_and_inpaint": false, "uov_method": "Disabled", "mixing_image_prompt_and_vary_upscale": false,
	"enable_safety_checker": true
}`

func TestCreateGenerationFalExample(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	require.Equal(t, "queued", g.Status)
	require.Equal(t, api.AnonymousClient, g.Client)
	require.Equal(t, 2, g.Priority)
	require.JSONEq(t, `{}`, string(g.Metadata))
	require.JSONEq(t, falDefaultedExample, string(g.Input))

	// The stored input is the one returned, and exactly what goes to fal.
	var stored json.RawMessage
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input FROM generations WHERE id = $1`, g.ID).Scan(&stored))
	require.JSONEq(t, falDefaultedExample, string(stored))

	resp := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusOK, resp.status)
	var got generation
	require.NoError(t, json.Unmarshal(resp.body, &got))
	require.Equal(t, g.ID, got.ID)
	require.JSONEq(t, falDefaultedExample, string(got.Input))
}

// TestCreateGenerationFalDocumentedInput posts the complete input of fal's
// schema page verbatim; every field it sets is stored unchanged.
func TestCreateGenerationFalDocumentedInput(t *testing.T) {
	t.Parallel()
	b := setup(t)

	raw, err := os.ReadFile("testdata/fal_documented_input.json")
	require.NoError(t, err)
	g := b.enqueue(t, jsonHeader(), string(raw), http.StatusAccepted)

	var sent, stored map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &sent))
	require.NoError(t, json.Unmarshal(g.Input, &stored))
	for field, value := range sent {
		require.JSONEq(t, string(value), string(stored[field]), field)
	}
	require.Equal(t, "176400", string(g.Seed))
}

func TestCreateGenerationOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	body := withImagePrompt(fmt.Sprintf(`"priority":1,"metadata":{"order":"A-1","tags":["x"]},"callback_url":"https://example.com/done","run_at":%q,"seed":17454220438242315174`,
		runAt.Format(time.RFC3339)))
	g := b.enqueue(t, jsonHeader(echo.HeaderContentType, "application/json; charset=utf-8"), body, http.StatusAccepted)
	require.Equal(t, 1, g.Priority)
	require.JSONEq(t, `{"order":"A-1","tags":["x"]}`, string(g.Metadata))
	require.NotNil(t, g.RunAt)
	gotRunAt, err := time.Parse(time.RFC3339, *g.RunAt)
	require.NoError(t, err)
	require.True(t, runAt.Equal(gotRunAt))
	require.Equal(t, "17454220438242315174", string(g.Seed), "seeds beyond int64 survive digit for digit")

	var priority int16
	var scheduledAt time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT priority, scheduled_at FROM river_job`).Scan(&priority, &scheduledAt))
	require.Equal(t, int16(1), priority)
	require.True(t, runAt.Equal(scheduledAt))

	// Explicit nulls are absent fields.
	g = b.enqueue(t, jsonHeader(), withImagePrompt(`"priority":null,"metadata":null,"callback_url":null,"run_at":null,"seed":null`), http.StatusAccepted)
	require.Equal(t, 2, g.Priority)
	require.JSONEq(t, `{}`, string(g.Metadata))
	require.Nil(t, g.RunAt)
}

func TestGetGenerationNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
		resp := b.do(t, http.MethodGet, "/v1/generations/"+id, nil, nil)
		require.Equal(t, http.StatusNotFound, resp.status)
		require.Equal(t, "not_found", resp.errorBody(t).Code)
	}
}

// TestCreateGenerationRejects sends dozens of bad requests. Each is answered
// with the right status, error code and field paths, and none leaves a
// generation or a River job behind.
func TestCreateGenerationRejects(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tooLarge := `{"prompt":"` + repeat("a", api.MaxBodyBytes) + `"}`
	bigMetadata := `{"m":"` + repeat("x", api.MaxMetadataBytes) + `"}`
	tests := []struct {
		name       string
		header     http.Header // default: Content-Type: application/json
		body       string
		wantStatus int
		wantCode   string
		wantFields []string // 422: the details' fields, in order
		wantInMsg  string   // part of the message; of a 422, of its last detail
	}{
		// fal's fields.
		{name: "image_prompt_1 missing", body: `{"prompt":"a cat"}`, wantFields: []string{"image_prompt_1"}},
		{name: "image_prompt_1 not an object", body: `{"image_prompt_1":"` + pikachuURL + `"}`, wantFields: []string{"image_prompt_1"}},
		{name: "image_prompt_1 null", body: `{"image_prompt_1":null}`, wantFields: []string{"image_prompt_1"}},
		{name: "image_url missing", body: `{"image_prompt_1":{"weight":1}}`, wantFields: []string{"image_prompt_1.image_url"}},
		{name: "image_url ftp", body: `{"image_prompt_1":{"image_url":"ftp://example.com/a.png"}}`, wantFields: []string{"image_prompt_1.image_url"}},
		{name: "image_url with credentials", body: `{"image_prompt_1":{"image_url":"https://u:p@example.com/a.png"}}`, wantFields: []string{"image_prompt_1.image_url"}},
		{name: "image_url data URI not base64", body: `{"image_prompt_1":{"image_url":"data:image/png,abc"}}`, wantFields: []string{"image_prompt_1.image_url"}},
		{name: "image_url data URI not an image", body: `{"image_prompt_1":{"image_url":"data:text/plain;base64,aGk="}}`, wantFields: []string{"image_prompt_1.image_url"}},
		{name: "image prompt unknown field", body: `{"image_prompt_1":{"image_url":"` + pikachuURL + `","wieght":1}}`, wantFields: []string{"image_prompt_1.wieght"}},
		{name: "image_prompt_2 weight", body: withImagePrompt(`"image_prompt_2":{"image_url":"` + pikachuURL + `","weight":2.5}`), wantFields: []string{"image_prompt_2.weight"}},
		{name: "image_prompt_3 type", body: withImagePrompt(`"image_prompt_3":{"image_url":"` + pikachuURL + `","type":"Canny"}`), wantFields: []string{"image_prompt_3.type"}},
		{name: "image_prompt_4 stop_at", body: withImagePrompt(`"image_prompt_4":{"image_url":"` + pikachuURL + `","stop_at":-0.1}`), wantFields: []string{"image_prompt_4.stop_at"}},
		{name: "prompt too long", body: withImagePrompt(`"prompt":"` + repeat("é", 10_001) + `"`), wantFields: []string{"prompt"}},
		{name: "negative_prompt a number", body: withImagePrompt(`"negative_prompt":1`), wantFields: []string{"negative_prompt"}},
		{name: "styles unknown", body: withImagePrompt(`"styles":["Fooocus V2","Fooocus V3"]`), wantFields: []string{"styles[1]"}},
		{name: "styles wrong case", body: withImagePrompt(`"styles":["fooocus v2"]`), wantFields: []string{"styles[0]"}},
		{name: "styles repeated", body: withImagePrompt(`"styles":["Fooocus V2","Fooocus V2"]`), wantFields: []string{"styles[1]"}},
		{name: "styles a string", body: withImagePrompt(`"styles":"Fooocus V2"`), wantFields: []string{"styles"}},
		{name: "performance", body: withImagePrompt(`"performance":"Fast"`), wantFields: []string{"performance"}},
		{name: "guidance_scale low", body: withImagePrompt(`"guidance_scale":0.5`), wantFields: []string{"guidance_scale"}},
		{name: "sharpness high", body: withImagePrompt(`"sharpness":31`), wantFields: []string{"sharpness"}},
		{name: "aspect_ratio not multiple of 8", body: withImagePrompt(`"aspect_ratio":"1001x1000"`), wantFields: []string{"aspect_ratio"}},
		{name: "aspect_ratio too large", body: withImagePrompt(`"aspect_ratio":"4096x4096"`), wantFields: []string{"aspect_ratio"}},
		{name: "aspect_ratio with colon", body: withImagePrompt(`"aspect_ratio":"16:9"`), wantFields: []string{"aspect_ratio"}},
		{name: "num_images 5", body: withImagePrompt(`"num_images":5`), wantFields: []string{"num_images"}},
		{name: "num_images fractional", body: withImagePrompt(`"num_images":1.5`), wantFields: []string{"num_images"}},
		{name: "num_images a string", body: withImagePrompt(`"num_images":"2"`), wantFields: []string{"num_images"}},
		{name: "loras too many", body: withImagePrompt(`"loras":[` + strings.TrimSuffix(repeat(`{"path":"a/b"},`, 6), ",") + `]`), wantFields: []string{"loras"}},
		{name: "lora scale", body: withImagePrompt(`"loras":[{"path":"a/b","scale":5}]`), wantFields: []string{"loras[0].scale"}},
		{name: "lora path missing", body: withImagePrompt(`"loras":[{"path":"a/b"},{"scale":1}]`), wantFields: []string{"loras[1].path"}},
		{name: "refiner_model", body: withImagePrompt(`"refiner_model":"sdxl"`), wantFields: []string{"refiner_model"}},
		{name: "refiner_switch", body: withImagePrompt(`"refiner_switch":1.5`), wantFields: []string{"refiner_switch"}},
		{name: "output_format", body: withImagePrompt(`"output_format":"gif"`), wantFields: []string{"output_format"}},
		{name: "sync_mode true", body: withImagePrompt(`"sync_mode":true`), wantFields: []string{"sync_mode"}},
		{name: "seed negative", body: withImagePrompt(`"seed":-1`), wantFields: []string{"seed"}},
		{name: "seed beyond uint64", body: withImagePrompt(`"seed":18446744073709551616`), wantFields: []string{"seed"}},
		{name: "seed fractional", body: withImagePrompt(`"seed":1.5`), wantFields: []string{"seed"}},
		{name: "inpaint_image_url", body: withImagePrompt(`"inpaint_image_url":"not a url"`), wantFields: []string{"inpaint_image_url"}},
		{name: "mask_image_url javascript", body: withImagePrompt(`"mask_image_url":"javascript:alert(1)"`), wantFields: []string{"mask_image_url"}},
		{name: "inpaint_mode", body: withImagePrompt(`"inpaint_mode":"Inpaint"`), wantFields: []string{"inpaint_mode"}},
		{name: "inpaint_additional_prompt", body: withImagePrompt(`"inpaint_additional_prompt":["a"]`), wantFields: []string{"inpaint_additional_prompt"}},
		{name: "outpaint_selections", body: withImagePrompt(`"outpaint_selections":["Left","Up"]`), wantFields: []string{"outpaint_selections[1]"}},
		{name: "mixing_image_prompt_and_inpaint", body: withImagePrompt(`"mixing_image_prompt_and_inpaint":"yes"`), wantFields: []string{"mixing_image_prompt_and_inpaint"}},
		{name: "uov_image_url", body: withImagePrompt(`"uov_image_url":"//example.com/a.png"`), wantFields: []string{"uov_image_url"}},
		{name: "uov_method", body: withImagePrompt(`"uov_method":"Upscale (3x)"`), wantFields: []string{"uov_method"}},
		{name: "enable_safety_checker", body: withImagePrompt(`"enable_safety_checker":1`), wantFields: []string{"enable_safety_checker"}},
		{name: "unknown field", body: withImagePrompt(`"promt":"a cat"`), wantFields: []string{"promt"}},
		{name: "duplicate field", body: withImagePrompt(`"prompt":"a","prompt":"b"`), wantFields: []string{"prompt"}},

		// Easel's fields.
		{name: "priority 0", body: withImagePrompt(`"priority":0`), wantFields: []string{"priority"}},
		{name: "priority 5", body: withImagePrompt(`"priority":5`), wantFields: []string{"priority"}},
		{name: "priority fractional", body: withImagePrompt(`"priority":1.5`), wantFields: []string{"priority"}},
		{name: "priority a string", body: withImagePrompt(`"priority":"1"`), wantFields: []string{"priority"}},
		{name: "metadata an array", body: withImagePrompt(`"metadata":[1]`), wantFields: []string{"metadata"}},
		{name: "metadata a string", body: withImagePrompt(`"metadata":"x"`), wantFields: []string{"metadata"}},
		{name: "metadata too large", body: withImagePrompt(`"metadata":` + bigMetadata), wantFields: []string{"metadata"}},
		{name: "callback_url ftp", body: withImagePrompt(`"callback_url":"ftp://example.com/done"`), wantFields: []string{"callback_url"}},
		{name: "callback_url relative", body: withImagePrompt(`"callback_url":"/done"`), wantFields: []string{"callback_url"}},
		// Go's "" means no callback; a request sending it meant one.
		{name: "callback_url empty", body: withImagePrompt(`"callback_url":""`), wantFields: []string{"callback_url"},
			wantInMsg: "must be an absolute http or https URL; omit the field for no callback"},
		{name: "callback_url too long", body: withImagePrompt(`"callback_url":"https://example.com/` + repeat("a", 2048) + `"`), wantFields: []string{"callback_url"}},
		{name: "run_at not a time", body: withImagePrompt(`"run_at":"tomorrow"`), wantFields: []string{"run_at"}},
		{name: "run_at a date", body: withImagePrompt(`"run_at":"2030-01-02"`), wantFields: []string{"run_at"}},
		{name: "run_at a number", body: withImagePrompt(`"run_at":1893456000`), wantFields: []string{"run_at"}},
		{name: "Idempotency-Key too long", header: jsonHeader("Idempotency-Key", repeat("k", 256)), body: falExampleInput, wantFields: []string{"Idempotency-Key"}},
		{name: "Idempotency-Key not ASCII", header: jsonHeader("Idempotency-Key", "clé"), body: falExampleInput, wantFields: []string{"Idempotency-Key"}},
		{name: "Idempotency-Key not UTF-8", header: jsonHeader("Idempotency-Key", "\x98"), body: falExampleInput, wantFields: []string{"Idempotency-Key"}},
		// Read as no key, each retry would enqueue again.
		{name: "Idempotency-Key empty", header: http.Header{echo.HeaderContentType: {echo.MIMEApplicationJSON}, "Idempotency-Key": {""}},
			body: falExampleInput, wantFields: []string{"Idempotency-Key"}, wantInMsg: "must not be empty"},
		{name: "Idempotency-Key twice", header: http.Header{echo.HeaderContentType: {echo.MIMEApplicationJSON}, "Idempotency-Key": {"a", "b"}},
			body: falExampleInput, wantFields: []string{"Idempotency-Key"}},
		// Checked by package jobs, for Go callers too; without a
		// CallbackURLChecker (this handler has none) they still apply.
		{name: "callback_url with user info", body: withImagePrompt(`"callback_url":"https://user:pass@example.com/done"`), wantFields: []string{"callback_url"}},
		{name: "callback_url with fragment", body: withImagePrompt(`"callback_url":"https://example.com/done#top"`), wantFields: []string{"callback_url"}},
		{name: "callback_url port 0", body: withImagePrompt(`"callback_url":"https://example.com:0/done"`), wantFields: []string{"callback_url"}},
		{name: "callback_url a number", body: withImagePrompt(`"callback_url":1`), wantFields: []string{"callback_url"}},
		{name: "run_at in year 9999", body: withImagePrompt(`"run_at":"9999-12-31T23:59:59Z"`), wantFields: []string{"run_at"}},
		{name: "run_at 400 days ahead", body: withImagePrompt(`"run_at":"` + time.Now().AddDate(0, 0, 400).UTC().Format(time.RFC3339) + `"`), wantFields: []string{"run_at"}},

		// Postgres stores no U+0000, wherever it is.
		{name: "NUL in prompt", body: withImagePrompt(`"prompt":"a\u0000b"`), wantFields: []string{"prompt"}},
		{name: "NUL in image URL", body: `{"image_prompt_1":{"image_url":"https://example.com/\u0000.png"}}`, wantFields: []string{"image_prompt_1.image_url", "image_prompt_1.image_url"}},
		{name: "NUL in metadata", body: withImagePrompt(`"metadata":{"k":["ok","x\u0000"],"\u0000":1}`), wantFields: []string{"metadata.k[1]", "metadata.\x00"},
			wantInMsg: "field name must not contain the NUL character"},

		// Nor an unpaired UTF-16 surrogate escape in jsonb, which
		// encoding/json reads as U+FFFD but Postgres refuses; in fal's
		// input it would not be what the caller wrote.
		{name: "lone surrogates in prompt", body: withImagePrompt(`"prompt":"a\ud800b\udc00"`), wantFields: []string{"prompt"}, wantInMsg: "unpaired UTF-16 surrogate"},
		{name: "lone surrogate in a style", body: withImagePrompt(`"styles":["Fooocus V2","\udfff"]`), wantFields: []string{"styles[1]"}},
		{name: "lone high surrogate in a metadata key", body: withImagePrompt(`"metadata":{"\ud800":1}`), wantFields: []string{"metadata.\uFFFD"}},
		{name: "lone high surrogate in a metadata value", body: withImagePrompt(`"metadata":{"k":"\ud800"}`), wantFields: []string{"metadata.k"}},
		{name: "lone low surrogate in metadata", body: withImagePrompt(`"metadata":{"k":["\udc00"]}`), wantFields: []string{"metadata.k[0]"}},
		{name: "lone surrogate and NUL in metadata", body: withImagePrompt(`"metadata":{"k":"\u0000","j":"\ud800"}`), wantFields: []string{"metadata.k", "metadata.j"}},
		{name: "every problem in metadata, by path", body: withImagePrompt(`"metadata":{"a":{"b":"\ud800","c":"\u0000"}}`), wantFields: []string{"metadata.a.b", "metadata.a.c"}},

		// jsonb keeps the last of repeated keys; the body's own fields may
		// not repeat either.
		{name: "metadata duplicate key", body: withImagePrompt(`"metadata":{"a":1,"a":2}`), wantFields: []string{"metadata.a"}, wantInMsg: "duplicate field"},
		{name: "metadata nested duplicate key", body: withImagePrompt(`"metadata":{"a":[{"b":1,"b":1}]}`), wantFields: []string{"metadata.a[0].b"}},
		// Beyond a 64-bit float, or beyond what Postgres stores (SQLSTATE
		// 22003 at the insert).
		{name: "metadata number out of range", body: withImagePrompt(`"metadata":{"a":[1e400]}`), wantFields: []string{"metadata.a[0]"}, wantInMsg: "number out of range"},
		{name: "metadata number too precise for Postgres", body: withImagePrompt(`"metadata":{"a":0e-99999}`), wantFields: []string{"metadata.a"}, wantInMsg: "number out of range"},
		{name: "metadata too large as stored", body: withImagePrompt(`"metadata":{"k":"` + repeat(`\u00e9`, api.MaxMetadataBytes/2) + `"}`), wantFields: []string{"metadata"},
			wantInMsg: "is 16392 bytes, over the limit of 16384: measured as stored"},
		{name: "metadata details in body order", header: jsonHeader("Idempotency-Key", "\x01"),
			body:       withImagePrompt(`"callback_url":"x","metadata":{"b":1e999,"a":1,"a":2},"priority":0`),
			wantFields: []string{"priority", "metadata.b", "metadata.a", "callback_url", "Idempotency-Key"}},

		// Every invalid field at once: fal's in schema order, then Easel's.
		{
			name:       "many at once",
			body:       `{"num_images":9,"image_prompt_1":{"image_url":"x","weight":3},"image_prompt_2":{"image_url":"` + pikachuURL + `","weight":2.5},"priority":7,"metadata":[],"colour":"red","prompt":"a","prompt":"b"}`,
			wantFields: []string{"prompt", "num_images", "image_prompt_1.image_url", "image_prompt_1.weight", "image_prompt_2.weight", "colour", "priority", "metadata"},
		},
		{
			name:       "every option at once",
			header:     jsonHeader("Idempotency-Key", "é"),
			body:       `{"image_prompt_1":{"image_url":"x"},"run_at":"9999-01-01T00:00:00Z","callback_url":"https://a@example.com/","metadata":{"\udfff":1},"priority":0}`,
			wantFields: []string{"image_prompt_1.image_url", "priority", "metadata.\uFFFD", "callback_url", "run_at", "Idempotency-Key"},
		},

		// Malformed bodies: 400 with the byte offset.
		{name: "truncated", body: `{"prompt":"a"`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset 13"},
		{name: "missing colon", body: `{"prompt" "a"}`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset 10"},
		{name: "trailing comma", body: `{"prompt":"a",}`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset 14"},
		{name: "bad value", body: `{"prompt":x}`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset 10"},
		{name: "data after the object", body: falExampleInput + ` {}`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset " + strconv.Itoa(len(falExampleInput)+1)},
		{name: "an array", body: `[` + falExampleInput + `]`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "JSON object"},
		{name: "null", body: `null`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "JSON object"},
		{name: "empty", body: ``, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "empty"},
		{name: "blank", body: " \n", wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "empty"},
		{name: "invalid UTF-8", body: `{"prompt":"caf` + "\xe9" + `"}`, wantStatus: http.StatusBadRequest, wantCode: "malformed", wantInMsg: "at byte offset 14: invalid UTF-8"},

		// Transport limits.
		{name: "too large", body: tooLarge, wantStatus: http.StatusRequestEntityTooLarge, wantCode: "too_large", wantInMsg: "8388608 bytes"},
		{name: "text/plain", header: http.Header{echo.HeaderContentType: {"text/plain"}}, body: falExampleInput, wantStatus: http.StatusUnsupportedMediaType, wantCode: "unsupported_media_type"},
		{name: "form", header: http.Header{echo.HeaderContentType: {"application/x-www-form-urlencoded"}}, body: "prompt=a", wantStatus: http.StatusUnsupportedMediaType, wantCode: "unsupported_media_type"},
		{name: "no content type", header: http.Header{}, body: falExampleInput, wantStatus: http.StatusUnsupportedMediaType, wantCode: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			header := tt.header
			if header == nil {
				header = jsonHeader()
			}
			resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(tt.body))
			e := resp.errorBody(t)
			if tt.wantStatus == 0 {
				require.Equal(t, http.StatusUnprocessableEntity, resp.status, string(resp.body))
				require.Equal(t, "invalid_request", e.Code)
				require.Equal(t, tt.wantFields, e.fields(), string(resp.body))
				for _, d := range e.Details {
					require.NotEmpty(t, d.Message, d.Field)
				}
				require.Contains(t, e.Details[len(e.Details)-1].Message, tt.wantInMsg)
			} else {
				require.Equal(t, tt.wantStatus, resp.status, string(resp.body))
				require.Equal(t, tt.wantCode, e.Code)
				require.Contains(t, e.Message, tt.wantInMsg)
			}

			generations, jobs := b.counts(t)
			require.Zero(t, generations, "a rejected request stored a generation")
			require.Zero(t, jobs, "a rejected request inserted a River job")
		})
	}
}

// TestCreateGenerationDeclaredTooLarge: a Content-Length over the limit is
// refused before the body is read, so that net/http, which answers
// Expect: 100-continue on the first read, never invites the body.
func TestCreateGenerationDeclaredTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t)

	body := &unreadBody{}
	req := newRequest(http.MethodPost, "/v1/generations", jsonHeader("Expect", "100-continue"), nil)
	req.Body, req.ContentLength = body, api.MaxBodyBytes+1
	rec := httptest.NewRecorder()
	b.echo.ServeHTTP(rec, req)

	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, string(resp.body))
	require.Equal(t, "too_large", resp.errorBody(t).Code)
	require.False(t, body.read.Load(), "the body was read")
	generations, jobs := b.counts(t)
	require.Zero(t, generations)
	require.Zero(t, jobs)
}

// unreadBody records whether anything read it.
type unreadBody struct{ read atomic.Bool }

func (b *unreadBody) Read([]byte) (int, error) {
	b.read.Store(true)
	return 0, io.ErrUnexpectedEOF
}

func (b *unreadBody) Close() error { return nil }

// TestCreateGenerationEdgesAccepted sends what is valid near the limits
// the rejections above test: each is stored, and none fails in Postgres.
func TestCreateGenerationEdgesAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// A surrogate pair is one character, which jsonb takes.
	g := b.enqueue(t, jsonHeader(), withImagePrompt(`"metadata":{"\ud83d\ude00":"\uD83D\uDE00","lit":"\\ud800"}`), http.StatusAccepted)
	require.JSONEq(t, `{"😀":"😀","lit":"\\ud800"}`, string(g.Metadata))

	// Nor is a surrogate pair in fal's input a lone surrogate, nor an
	// escaped backslash before u0000 a NUL.
	g = b.enqueue(t, jsonHeader(), withImagePrompt(`"prompt":"\\u0000","negative_prompt":"\ud83d\ude00"`), http.StatusAccepted)
	var prompt, negative string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input->>'prompt', input->>'negative_prompt' FROM generations WHERE id = $1`, g.ID).Scan(&prompt, &negative))
	require.Equal(t, `\u0000`, prompt)
	require.Equal(t, "😀", negative)

	// Metadata is measured as stored: whitespace and escapes beyond 16 KiB
	// (Python's json.dumps escapes every non-ASCII character) are taken.
	// Its numbers are kept digit for digit.
	g = b.enqueue(t, jsonHeader(), withImagePrompt(`"metadata":{"a":`+repeat(" ", 20000)+`9007199254740993}`), http.StatusAccepted)
	require.Contains(t, string(g.Metadata), `9007199254740993`)
	require.Less(t, len(g.Metadata), 100, string(g.Metadata))
	g = b.enqueue(t, jsonHeader(), withImagePrompt(`"metadata":{"k":"`+repeat(`\u00e9`, api.MaxMetadataBytes/2-4)+`"}`), http.StatusAccepted)
	require.JSONEq(t, `{"k":"`+repeat("é", api.MaxMetadataBytes/2-4)+`"}`, string(g.Metadata))

	// A run_at in the past means now; one just inside the horizon is kept.
	g = b.enqueue(t, jsonHeader(), withImagePrompt(`"run_at":"2001-01-01T00:00:00Z"`), http.StatusAccepted)
	var state string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state FROM river_job WHERE args->>'generation_id' = $1`, g.ID).Scan(&state))
	require.Equal(t, "available", state)
	b.enqueue(t, jsonHeader(), withImagePrompt(`"run_at":"`+time.Now().AddDate(0, 0, 360).UTC().Format(time.RFC3339)+`"`), http.StatusAccepted)

	// The longest idempotency key.
	b.enqueue(t, jsonHeader("Idempotency-Key", repeat("~", 255)), falExampleInput, http.StatusAccepted)
}

// TestUnknownQueryParameters: every endpoint refuses a query parameter it
// does not read, as the list always has, and writes nothing.
func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)

	tests := []struct {
		method, path string
		body         []byte
		wantFields   []string
		wantInMsg    string
	}{
		{http.MethodGet, "/v1/generations/" + g.ID + "?foo=1", nil, []string{"foo"}, "the only one is wait"},
		{http.MethodGet, "/v1/generations/" + g.ID + "?wait=0s&waitt=1s&a=1", nil, []string{"a", "waitt"}, "the only one is wait"},
		{http.MethodGet, "/v1/generations/" + uuid.NewString() + "?foo=1", nil, []string{"foo"}, "the only one is wait"},
		{http.MethodPost, "/v1/generations?priority=1", []byte(falExampleInput), []string{"priority"}, "takes none"},
		{http.MethodPost, "/v1/generations?dry_run=true", []byte(`{"prompt":1}`), []string{"prompt", "image_prompt_1", "dry_run"}, ""},
		{http.MethodPost, "/v1/generations/" + g.ID + "/cancel?force=true", nil, []string{"force"}, "takes none"},
	}
	for _, tt := range tests {
		resp := b.do(t, tt.method, tt.path, jsonHeader(), tt.body)
		require.Equal(t, tt.wantFields, invalidFields(t, resp), "%s %s", tt.method, tt.path)
		require.Contains(t, resp.errorBody(t).Details[len(tt.wantFields)-1].Message, tt.wantInMsg)
	}
	// An empty name is no parameter, as in the list.
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/generations/"+g.ID+"?&=x", nil, nil).status)

	generations, jobs := b.counts(t)
	require.Equal(t, 1, generations)
	require.Equal(t, 1, jobs)
}
