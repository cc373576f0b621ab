package fal

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStyleNames(t *testing.T) {
	t.Parallel()

	names := StyleNames()
	require.Len(t, names, 277)
	require.Equal(t, []string{"Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"}, names[:3])
	require.Equal(t, "Pebble Art", names[len(names)-1])

	seen := make(map[string]bool, len(names))
	for _, name := range names {
		require.False(t, seen[name], "duplicate style %q", name)
		seen[name] = true
	}

	names[0] = "changed"
	require.Equal(t, "Fooocus V2", StyleNames()[0], "StyleNames must return a copy")
}

func TestParseImagePromptInputAcceptsEveryStyle(t *testing.T) {
	t.Parallel()

	for _, name := range StyleNames() {
		styles, err := json.Marshal([]string{name})
		require.NoError(t, err)
		in, err := ParseImagePromptInput([]byte(withImagePrompt(`"styles":` + string(styles))))
		require.NoError(t, err, name)
		require.Equal(t, []string{name}, in.Styles)
	}

	all, err := json.Marshal(StyleNames())
	require.NoError(t, err)
	in, err := ParseImagePromptInput([]byte(withImagePrompt(`"styles":` + string(all))))
	require.NoError(t, err)
	require.Equal(t, StyleNames(), in.Styles)
}
