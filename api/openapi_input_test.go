package api_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
)

// inputSchemaPairs pairs each request schema of fal's input with the schema
// of the same object as stored and returned.
var inputSchemaPairs = []struct{ request, stored string }{
	{"ImagePromptInput", "StoredImagePromptInput"},
	{"ImagePrompt", "StoredImagePrompt"},
	{"LoraWeight", "StoredLoraWeight"},
}

// TestOpenAPIRequestAndStoredInputAgree: the request and stored input
// schemas describe the same fields with the same constraints; they differ
// only in what is required, nullable and given as a default keyword. The
// request schemas have no default keyword at all, nor do Easel's own
// fields: openapi-typescript makes such a field required, and a request
// leaving it out would not type-check.
func TestOpenAPIRequestAndStoredInputAgree(t *testing.T) {
	t.Parallel()
	schemas := setup(t).doc.Components.Schemas

	for _, pair := range inputSchemaPairs {
		request, stored := schemas[pair.request].Value, schemas[pair.stored].Value
		require.ElementsMatch(t, slices.Collect(maps.Keys(stored.Properties)), slices.Collect(maps.Keys(request.Properties)), pair.request)
		for name, prop := range request.Properties {
			require.Nil(t, prop.Value.Default, "%s.%s has a default keyword", pair.request, name)
			require.Equal(t, inputShape(t, stored.Properties[name]), inputShape(t, prop), "%s.%s", pair.request, name)
			// What a request must give is always stored.
			if slices.Contains(request.Required, name) {
				require.Contains(t, stored.Required, name, "%s.%s", pair.stored, name)
			}
		}
	}
	for name, prop := range schemas["EnqueueOptions"].Value.Properties {
		require.Nil(t, prop.Value.Default, "EnqueueOptions.%s has a default keyword", name)
	}
}

// inputShape is what ref constrains a value to, but for whether it may be
// null, its default and its description, with the stored and request
// versions of an object named alike.
func inputShape(t *testing.T, ref *openapi3.SchemaRef) string {
	t.Helper()
	if ref.Ref == "" && len(ref.Value.AllOf) == 1 {
		ref = ref.Value.AllOf[0] // a nullable $ref
	}
	if name := strings.TrimPrefix(path.Base(ref.Ref), "Stored"); name == "ImagePrompt" || name == "LoraWeight" {
		return "the object " + name
	}
	s := *ref.Value
	// The enum is compared as it is: null in a request's enum, for which
	// oapi-codegen cannot generate a constant, differs from the stored one.
	s.Nullable, s.Default, s.Description, s.AllOf = false, nil, "", nil
	var items string
	if s.Items != nil {
		items = inputShape(t, s.Items)
		s.Items = nil
	}
	encoded, err := json.Marshal(&s)
	require.NoError(t, err)
	return string(encoded) + " of " + items
}

// TestOpenAPINullMeansAbsent: a request field is nullable in the document
// exactly where the parser reads null as absent. Requests with every
// nullable field null enqueue the input that leaving them out does, and
// validate against the document (do checks every accepted request).
func TestOpenAPINullMeansAbsent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	schemas := b.doc.Components.Schemas

	// Where each request schema's fields go in a body; fields ends in a
	// comma when not empty.
	within := map[string]func(fields string) string{
		"ImagePromptInput": func(fields string) string {
			return `{` + fields + `"image_prompt_1":{"image_url":"` + pikachuURL + `"}}`
		},
		"ImagePrompt": func(fields string) string {
			return `{"image_prompt_1":{` + fields + `"image_url":"` + pikachuURL + `"}}`
		},
		"LoraWeight": func(fields string) string {
			return `{"loras":[{` + fields + `"path":"a/b"}],"image_prompt_1":{"image_url":"` + pikachuURL + `"}}`
		},
	}
	nulls := make(map[string][]string)
	for _, pair := range inputSchemaPairs {
		absent, err := fal.ParseImagePromptInput([]byte(within[pair.request]("")))
		require.NoError(t, err)
		for name, prop := range schemas[pair.request].Value.Properties {
			field := strconv.Quote(name) + ":null"
			body := within[pair.request](field + ",")
			if name == "image_prompt_1" {
				body = `{"image_prompt_1":null}`
			}
			got, err := fal.ParseImagePromptInput([]byte(body))
			if !prop.Value.Nullable {
				require.Error(t, err, "%s.%s is not nullable, yet null is accepted", pair.request, name)
				continue
			}
			require.NoError(t, err, "%s.%s is nullable", pair.request, name)
			require.Equal(t, absent, got, "%s.%s: null is not absent", pair.request, name)
			nulls[pair.request] = append(nulls[pair.request], field+",")
		}
		require.NotEmpty(t, nulls[pair.request], pair.request)
	}
	// Easel's own fields too.
	for name, prop := range schemas["EnqueueOptions"].Value.Properties {
		require.True(t, prop.Value.Nullable, "EnqueueOptions.%s", name)
		nulls["ImagePromptInput"] = append(nulls["ImagePromptInput"], strconv.Quote(name)+":null,")
	}

	for _, schema := range []string{"ImagePromptInput", "ImagePrompt", "LoraWeight"} {
		g := b.enqueue(t, jsonHeader(), within[schema](strings.Join(nulls[schema], "")), http.StatusAccepted)
		want, err := fal.ParseImagePromptInput([]byte(within[schema]("")))
		require.NoError(t, err)
		encoded, err := json.Marshal(want)
		require.NoError(t, err)
		require.JSONEq(t, string(encoded), string(g.Input), schema)
		require.Equal(t, 2, g.Priority)
		require.JSONEq(t, `{}`, string(g.Metadata))
	}
}

// TestOpenAPIStoredInputFields: the stored input's required fields are
// exactly those the server returns for a minimal request, and a request
// giving every optional field gets each back, a seed of 2^64-1 included,
// as the document describes it (do checks every response, the list page's
// too).
func TestOpenAPIStoredInputFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stored := b.doc.Components.Schemas["StoredImagePromptInput"].Value

	keys := func(input json.RawMessage) []string {
		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(input, &fields))
		return slices.Collect(maps.Keys(fields))
	}
	minimal := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
	require.ElementsMatch(t, stored.Required, keys(minimal.Input))

	const maxSeed = "18446744073709551615"
	image := `{"image_url":"` + pikachuURL + `"}`
	every := b.enqueue(t, jsonHeader(), withImagePrompt(`"seed":`+maxSeed+`,"image_prompt_2":`+image+`,"image_prompt_3":`+image+
		`,"image_prompt_4":`+image+`,"inpaint_image_url":"`+pikachuURL+`","mask_image_url":"`+pikachuURL+`","uov_image_url":"`+pikachuURL+`"`),
		http.StatusAccepted)
	require.ElementsMatch(t, slices.Collect(maps.Keys(stored.Properties)), keys(every.Input))
	require.Equal(t, maxSeed, string(every.Seed))

	for _, target := range []string{"/v1/generations/" + every.ID, "/v1/generations"} {
		resp := b.do(t, http.MethodGet, target, nil, nil)
		require.Equal(t, http.StatusOK, resp.status, string(resp.body))
		require.Contains(t, string(resp.body), `"seed":`+maxSeed+`,`, target)
	}
}

// TestOpenAPISeedsUnsigned: every seed in the document is an unsigned
// 64-bit integer, so that generated clients do not read fal's seeds above
// 2^63 into an int64, and says how to read one in JavaScript.
func TestOpenAPISeedsUnsigned(t *testing.T) {
	t.Parallel()
	schemas := setup(t).doc.Components.Schemas

	var seeds []string
	for name, schema := range schemas {
		if prop, ok := schema.Value.Properties["seed"]; ok {
			seeds = append(seeds, name)
			require.Equal(t, "uint64", prop.Value.Format, name)
			require.Equal(t, 18446744073709551615.0, *prop.Value.Max, name)
			require.Contains(t, oneLine(prop.Value.Description), "unsigned 64-bit integer", name)
		}
	}
	require.ElementsMatch(t, []string{"ImagePromptInput", "StoredImagePromptInput", "Generation"}, seeds)
	for _, name := range []string{"StoredImagePromptInput", "Generation"} {
		require.Contains(t, oneLine(schemas[name].Value.Properties["seed"].Value.Description), "BigInt-aware JSON parser", name)
	}
}

// oneLine joins a description's lines, as a reader sees them.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
