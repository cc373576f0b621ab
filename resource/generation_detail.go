package resource

import "github.com/easelhq/easel/store"

// GenerationDetail is the generation as GET /v1/generations/{id} answers
// it: the resource and how its result reached Easel. That costs a query of
// its own (store.GetResultOrigin), which a list would pay per generation,
// so lists, the other answers and callbacks carry the resource alone.
type GenerationDetail struct {
	*Generation
	// ResultSource is "webhook" or "poll" (fetched from fal's queue: no
	// webhook brought it within EASEL_POLL_AFTER, or the webhook carried
	// none); null while the generation is unfinished, and when no result
	// of fal's finished it.
	ResultSource *store.ResultSource `json:"result_source"`
}

// NewGenerationDetail renders a stored generation, its images, and origin,
// how the result that finished it arrived (nil: none did).
func NewGenerationDetail(g *store.Generation, images []store.Image, origin *store.ResultOrigin) *GenerationDetail {
	d := &GenerationDetail{Generation: NewGeneration(g, images)}
	if origin != nil {
		d.ResultSource = &origin.Source
	}
	return d
}
