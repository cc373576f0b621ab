package fal_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/easelhq/easel/fal"
)

// A Go caller builds an input from fal's defaults and changes what should
// differ. jobs.Enqueue takes it as it is (see jobs' ExampleEnqueue_typedInput);
// here it is validated as Enqueue validates it.
func ExampleNewImagePromptInput() {
	in := fal.NewImagePromptInput("a ceramic mug, product photo", "https://example.com/mug.png")
	in.NumImages = 2
	in.ImagePrompt1.Type = "PyraCanny"
	style := fal.NewImagePrompt("https://example.com/glaze.png")
	style.Weight = 0.6
	in.ImagePrompt2 = &style

	encoded, err := json.Marshal(in)
	if err != nil {
		log.Fatal(err)
	}
	valid, err := fal.ParseImagePromptInput(encoded)
	if err != nil {
		log.Fatal(err) // a *fal.ValidationError names every invalid field
	}
	fmt.Println(valid.Performance, valid.AspectRatio, valid.NumImages, "images, safety checker:", valid.EnableSafetyChecker)
	fmt.Println(valid.ImagePrompt1.Type, valid.ImagePrompt1.Weight, valid.ImagePrompt1.StopAt)
	fmt.Println(valid.ImagePrompt2.Type, valid.ImagePrompt2.Weight, valid.ImagePrompt2.StopAt)

	// Output:
	// Extreme Speed 1024x1024 2 images, safety checker: true
	// PyraCanny 1 0.5
	// ImagePrompt 0.6 0.5
}
