# The test command README.md gives is `make test`.
FUZZTIME ?= 3s

.PHONY: test fuzz build

test:
	go vet ./...
	go test -race -count=1 ./...
	$(MAKE) fuzz

# A few seconds of coverage-guided fuzzing per network-facing parser; run
# longer with `make fuzz FUZZTIME=5m`.
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseWebhook$$' -fuzztime $(FUZZTIME) ./fal
	go test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./fal
	go test -run '^$$' -fuzz '^FuzzParseImagePromptInput$$' -fuzztime $(FUZZTIME) ./fal

build:
	go build -o bin/easel ./cmd/easel
