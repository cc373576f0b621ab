package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

var update = flag.Bool("update", false, "rewrite the generated parts of openapi.yaml")

func TestOpenAPIDocumentValid(t *testing.T) {
	t.Parallel()
	b := setup(t)

	require.Equal(t, "3.0.3", b.doc.OpenAPI)
	require.NoError(t, b.doc.Validate(b.ctx, openapi3.EnableExamplesValidation()))
}

func TestOpenAPIServedWithoutKey(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{keys: []string{"billing"}})
	require.NoError(t, err)

	// setup itself fetched the document without a key; /v1 does need one.
	require.NotNil(t, b.doc)
	resp := b.do(t, http.MethodGet, "/v1/generations/"+uuid.NewString(), nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.status)
}

// TestOpenAPIRoutes checks that every /v1 route is documented and every
// documented operation is served. HEAD, served wherever GET is, is
// described once in info.description rather than as operations.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)

	param := regexp.MustCompile(`:(\w+)`)
	var served, gets, heads []string
	for _, r := range b.echo.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Method == echo.RouteNotFound {
			continue
		}
		switch r.Method {
		case http.MethodHead:
			heads = append(heads, r.Path)
			continue
		case http.MethodGet:
			gets = append(gets, r.Path)
		}
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(gets)
	slices.Sort(heads)
	require.Equal(t, gets, heads, "HEAD is served exactly where GET is")
	require.Contains(t, b.doc.Info.Description, "Every path that answers GET also answers HEAD")
	var documented []string
	for path, item := range b.doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	require.NotEmpty(t, served)
	require.Equal(t, documented, served)
}

// TestOpenAPIStyles keeps the styles enum equal to fal.StyleNames, in order.
// Regenerate it with go test ./api -run TestOpenAPIStyles -update.
func TestOpenAPIStyles(t *testing.T) {
	t.Parallel()

	if *update {
		raw, err := os.ReadFile("openapi.yaml")
		require.NoError(t, err)
		const begin, end = "        # BEGIN styles\n", "        # END styles\n"
		before, rest, ok := strings.Cut(string(raw), begin)
		require.True(t, ok, "openapi.yaml has no %q", begin)
		_, after, ok := strings.Cut(rest, end)
		require.True(t, ok, "openapi.yaml has no %q", end)
		var enum strings.Builder
		for _, name := range fal.StyleNames() {
			enum.WriteString("        - " + strconv.Quote(name) + "\n")
		}
		require.NoError(t, os.WriteFile("openapi.yaml", []byte(before+begin+enum.String()+end+after), 0o644))
	}

	doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	require.NoError(t, err)
	var enum []string
	for _, v := range doc.Components.Schemas["Style"].Value.Enum {
		enum = append(enum, v.(string))
	}
	require.Equal(t, fal.StyleNames(), enum, "run go test ./api -run TestOpenAPIStyles -update")
}

// TestOpenAPIInputMatchesFal checks the input schemas against the parser that
// enforces them: every default of the stored input is the one
// fal.ParseImagePromptInput applies, and the request schema's description
// of the field says it; every enum value is one it accepts.
func TestOpenAPIInputMatchesFal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schemas := b.doc.Components.Schemas

	parsed, err := fal.ParseImagePromptInput([]byte(`{"image_prompt_1":{"image_url":"` + pikachuURL + `"},"loras":[{"path":"a/b"}]}`))
	require.NoError(t, err)
	var applied struct {
		fields       map[string]json.RawMessage
		imagePrompt  map[string]json.RawMessage
		loraDefaults map[string]json.RawMessage
	}
	encoded, err := json.Marshal(parsed)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(encoded, &applied.fields))
	require.NoError(t, json.Unmarshal(applied.fields["image_prompt_1"], &applied.imagePrompt))
	var loras []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(applied.fields["loras"], &loras))
	applied.loraDefaults = loras[0]

	checkDefaults := func(stored, request string, applied map[string]json.RawMessage) {
		t.Helper()
		var defaults int
		for name, prop := range schemas[stored].Value.Properties {
			if prop.Value.Default == nil {
				continue
			}
			defaults++
			documented, err := json.Marshal(prop.Value.Default)
			require.NoError(t, err)
			// The request states it in words: openapi-typescript makes a
			// field with a default keyword required.
			require.Contains(t, schemas[request].Value.Properties[name].Value.Description, "Default: `"+string(documented)+"`",
				"%s.%s states the default", request, name)
			if name == "loras" {
				// The document shows fal's default LoRA; the parsed input above
				// replaced it to learn a LoRA's defaults.
				defaulted, err := fal.ParseImagePromptInput([]byte(falExampleInput))
				require.NoError(t, err)
				want, err := json.Marshal(defaulted.Loras)
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(documented), "%s.%s default", stored, name)
				continue
			}
			require.Contains(t, applied, name, "%s.%s", stored, name)
			require.JSONEq(t, string(applied[name]), string(documented), "%s.%s default", stored, name)
		}
		require.NotZero(t, defaults, stored)
	}
	checkDefaults("StoredImagePromptInput", "ImagePromptInput", applied.fields)
	checkDefaults("StoredImagePrompt", "ImagePrompt", applied.imagePrompt)
	checkDefaults("StoredLoraWeight", "LoraWeight", applied.loraDefaults)

	accepts := func(fields string) {
		t.Helper()
		_, err := fal.ParseImagePromptInput([]byte(withImagePrompt(fields)))
		require.NoError(t, err, fields)
	}
	for name, prop := range schemas["ImagePromptInput"].Value.Properties {
		s := prop.Value
		if s.Items != nil {
			s = s.Items.Value
		}
		for _, v := range s.Enum {
			value, err := json.Marshal(v)
			require.NoError(t, err)
			if prop.Value.Type.Is("array") {
				value = []byte("[" + string(value) + "]")
			}
			accepts(strconv.Quote(name) + ":" + string(value))
		}
	}
	for _, v := range schemas["ImagePrompt"].Value.Properties["type"].Value.Enum {
		value, err := json.Marshal(v)
		require.NoError(t, err)
		accepts(`"image_prompt_2":{"image_url":"` + pikachuURL + `","type":` + string(value) + `}`)
	}
}

// TestOpenAPIResponses calls every operation, so that each kind of answer is
// checked against the document (do validates every response).
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	b.enqueue(t, jsonHeader(), withImagePrompt(`"priority":1`), http.StatusAccepted)

	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{http.MethodGet, "/v1/generations", http.StatusOK},
		{http.MethodGet, "/v1/generations?status=queued&status=submitted&limit=1&client=anonymous", http.StatusOK},
		{http.MethodGet, "/v1/generations?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&has_nsfw=false", http.StatusOK},
		{http.MethodGet, "/v1/generations?limit=0&colour=red", http.StatusUnprocessableEntity},
		{http.MethodGet, "/v1/generations/" + g.ID, http.StatusOK},
		{http.MethodGet, "/v1/generations/" + g.ID + "?wait=0s", http.StatusOK},
		{http.MethodGet, "/v1/generations/" + g.ID + "?wait=soon", http.StatusUnprocessableEntity},
		// This handler has no Canceller.
		{http.MethodPost, "/v1/generations/" + uuid.NewString() + "/cancel", http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		resp := b.do(t, tt.method, tt.path, nil, nil)
		require.Equal(t, tt.wantStatus, resp.status, "%s %s: %s", tt.method, tt.path, resp.body)
	}

	resp := b.do(t, http.MethodGet, "/v1/generations?limit=1", nil, nil)
	var page struct {
		Data       []generation `json:"data"`
		NextCursor *string      `json:"next_cursor"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &page))
	require.Len(t, page.Data, 1)
	require.NotNil(t, page.NextCursor)
	resp = b.do(t, http.MethodGet, "/v1/generations?limit=1&cursor="+*page.NextCursor, nil, nil)
	require.Equal(t, http.StatusOK, resp.status)
}

// TestOpenAPIExamplesAccepted sends every example of the document to the
// server, which must accept it: the schema alone cannot tell that a run_at
// is too far ahead, say. Path parameters name a finished generation, so
// that a wait example answers at once.
func TestOpenAPIExamplesAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	finished := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	_, err := store.Cancel(b.ctx, b.pool, uuid.MustParse(finished.ID), "by client")
	require.NoError(t, err)

	var bodies, params int
	for path, item := range b.doc.Paths.Map() {
		path = strings.ReplaceAll(path, "{id}", finished.ID)
		require.NotContains(t, path, "{", "a path parameter this test cannot fill")
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				for mediaType, content := range op.RequestBody.Value.Content {
					for name, example := range content.Examples {
						body, err := json.Marshal(example.Value.Value)
						require.NoError(t, err)
						resp := b.do(t, method, path, http.Header{echo.HeaderContentType: {mediaType}}, body)
						require.Less(t, resp.status, 300, "%s %s example %s: %s", method, path, name, resp.body)
						bodies++
					}
				}
			}
			query := url.Values{}
			for _, p := range op.Parameters {
				example := p.Value.Example
				if example == nil && p.Value.Schema != nil {
					example = p.Value.Schema.Value.Example
				}
				if example == nil {
					continue
				}
				require.Equal(t, "query", p.Value.In, "%s %s: an example of a %s parameter this test cannot send", method, path, p.Value.In)
				values, ok := example.([]any)
				if !ok {
					values = []any{example}
				}
				for _, v := range values {
					query.Add(p.Value.Name, fmt.Sprint(v))
				}
			}
			if len(query) > 0 {
				target := path + "?" + query.Encode()
				resp := b.do(t, method, target, nil, nil)
				require.Less(t, resp.status, 300, "%s %s: %s", method, target, resp.body)
				params++
			}
		}
	}
	require.GreaterOrEqual(t, bodies, 2, "the enqueue examples")
	require.GreaterOrEqual(t, params, 2, "the list and wait examples")
}

// TestOpenAPIRequiredHeaders: the headers the server always sends are
// required in the document, so that checking every response against it (do)
// checks they are sent: Location on an enqueue's 202 and 200, Retry-After on
// 429 too_many_pending and 503 database_unavailable.
func TestOpenAPIRequiredHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)

	post := b.doc.Paths.Value("/v1/generations").Post
	for _, status := range []int{http.StatusAccepted, http.StatusOK} {
		require.True(t, post.Responses.Status(status).Value.Headers[echo.HeaderLocation].Value.Required, status)
	}
	for _, name := range []string{"TooManyPending", "DatabaseUnavailable"} {
		require.True(t, b.doc.Components.Responses[name].Value.Headers[echo.HeaderRetryAfter].Value.Required, name)
	}

	// Without it, an answer does not match the document.
	resp := b.serve(http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	require.Equal(t, http.StatusAccepted, resp.status, string(resp.body))
	resp.header.Del(echo.HeaderLocation)
	input := b.validationInput(t, http.MethodPost, "/v1/generations", jsonHeader(), []byte(falExampleInput))
	err := openapi3filter.ValidateResponse(b.ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input, Status: resp.status, Header: resp.header,
		Body: io.NopCloser(bytes.NewReader(resp.body)), Options: input.Options,
	})
	require.ErrorContains(t, err, `response header "Location" missing`)
}

// TestOpenAPINamedSchemas: the objects of an error body and a generation's
// error are named components, so that generated clients name their types
// after them rather than after where they appear.
func TestOpenAPINamedSchemas(t *testing.T) {
	t.Parallel()
	schemas := setup(t).doc.Components.Schemas

	require.Equal(t, "#/components/schemas/ErrorBody", schemas["Error"].Value.Properties["error"].Ref)
	require.Equal(t, "#/components/schemas/ErrorDetail", schemas["ErrorBody"].Value.Properties["details"].Value.Items.Ref)
	generationError := schemas["Generation"].Value.Properties["error"].Value
	require.True(t, generationError.Nullable)
	require.Len(t, generationError.AllOf, 1)
	require.Equal(t, "#/components/schemas/GenerationError", generationError.AllOf[0].Ref)
}
