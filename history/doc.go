// Package history holds the SQL recipes that report on Easel's history of
// generations through the generation_history view. Each recipe is a plain
// query a user can paste into psql; README.md shows the same text, and a
// test keeps the two identical.
package history
