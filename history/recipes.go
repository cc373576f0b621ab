package history

import (
	"embed"
	"fmt"
	"strings"
)

// Recipe is one reporting query over generation_history.
type Recipe struct {
	// Name is the recipe's file name in recipes/ without ".sql", e.g.
	// "nsfw_rate_per_day".
	Name string
	// SQL is the query as README.md shows it: leading comment lines saying
	// what it reports, then one statement ending in a semicolon.
	SQL string
}

//go:embed recipes/*.sql
var recipeFiles embed.FS

// recipeNames is the order README.md presents the recipes in.
var recipeNames = []string{
	"nsfw_rate_per_day",
	"time_to_complete_p50_p95",
	"failures_by_code",
	"images_per_client_per_day",
	"stuck_generations",
}

// Recipes returns every recipe, in README order.
func Recipes() []Recipe {
	recipes := make([]Recipe, len(recipeNames))
	for i, name := range recipeNames {
		b, err := recipeFiles.ReadFile("recipes/" + name + ".sql")
		if err != nil {
			panic(fmt.Sprintf("history: recipe %s is not embedded: %v", name, err)) // a build defect, caught by tests
		}
		recipes[i] = Recipe{Name: name, SQL: strings.TrimSpace(string(b))}
	}
	return recipes
}
