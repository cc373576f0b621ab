package api

import (
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// The generation resource lives in package resource, which the callbacks
// posted to callers share; these names keep the API's spelling of it.
type (
	Generation = resource.Generation
	ErrorInfo  = resource.ErrorInfo
	Image      = resource.Image
)

// NewGeneration renders a stored generation and its images.
func NewGeneration(g *store.Generation, images []store.Image) *Generation {
	return resource.NewGeneration(g, images)
}
