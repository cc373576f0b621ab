package history_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
)

// readmeRecipe is a recipe as README.md shows it: a marker naming it, then
// its SQL block.
var readmeRecipe = regexp.MustCompile("(?s)<!-- recipe: ([a-z0-9_]+) -->\n```sql\n(.*?)\n```")

// TestREADMERecipesMatch fails when a SQL recipe in README.md differs from
// the one the tests run, so that what users paste is what was tested.
func TestREADMERecipesMatch(t *testing.T) {
	t.Parallel()

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	inReadme := map[string]string{}
	var order []string
	for _, m := range readmeRecipe.FindAllStringSubmatch(string(readme), -1) {
		require.NotContains(t, inReadme, m[1], "README.md shows recipe %s twice", m[1])
		inReadme[m[1]] = m[2]
		order = append(order, m[1])
	}

	var want []string
	for _, r := range history.Recipes() {
		want = append(want, r.Name)
		require.Equal(t, r.SQL, inReadme[r.Name], "README.md's recipe %s differs from history/recipes/%s.sql", r.Name, r.Name)
	}
	require.Equal(t, want, order, "README.md shows exactly the recipes, in order")
}
