package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"time"
)

//go:embed templates
var templateFS embed.FS

// pageNames are the templates under templates/ that are whole pages; each is
// parsed together with layout.html.
var pageNames = []string{"gallery", "detail", "login", "error"}

type pages struct {
	byName map[string]*template.Template
}

// parsePages parses the embedded templates. They are part of the binary, so
// a parse error is a bug that every test rendering a page catches.
func parsePages(a *assets) *pages {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.New("layout.html").Funcs(templateFuncs).Funcs(template.FuncMap{"asset": a.url})
		p.byName[name] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

func (p *pages) execute(w io.Writer, name string, data any) error {
	t, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("render page %s: no such page", name)
	}
	if err := t.Execute(w, data); err != nil {
		return fmt.Errorf("render page %s: %w", name, err)
	}
	return nil
}

var templateFuncs = template.FuncMap{
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"clock":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	// With the year always: a tile may be from any year, and a date
	// without one reads as this year's.
	"shortClock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	// Timeline entries are often milliseconds apart.
	"preciseClock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
	"bytes":        formatBytes,
}
