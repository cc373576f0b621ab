# The test command README.md gives is `make test`.
FUZZTIME ?= 30000x

.PHONY: test fuzz build chaos chromium

test: chromium
	go vet ./...
	go test -race -count=1 ./...
	$(MAKE) fuzz

# A few seconds of coverage-guided fuzzing per network-facing parser,
# counted in executions: with a duration, Go 1.26's fuzz coordinator can
# fail a run with a bare "context deadline exceeded" as the time runs out
# (go.dev/issue/75804, fixed in Go 1.27), which would make CI red for
# nothing. Run longer with `make fuzz FUZZTIME=2000000x` (or a duration,
# such as 5m, accepting that flake).
fuzz:
	go test -vet=off -run '^$$' -fuzz '^FuzzParseWebhook$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzParseImagePromptInput$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzParseJWKS$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzNewAPIError$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzDecodeOutput$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzDecodeQueueResponse$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzDecodeStatus$$' -fuzztime $(FUZZTIME) ./fal
	go test -vet=off -run '^$$' -fuzz '^FuzzCheckMetadata$$' -fuzztime $(FUZZTIME) ./jobs
	go test -vet=off -run '^$$' -fuzz '^FuzzCreateGeneration$$' -fuzztime $(FUZZTIME) ./api
	go test -vet=off -run '^$$' -fuzz '^FuzzParseListQuery$$' -fuzztime $(FUZZTIME) ./api
	go test -vet=off -run '^$$' -fuzz '^FuzzDecodeCursor$$' -fuzztime $(FUZZTIME) ./api
	go test -vet=off -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./callbacks
	go test -vet=off -run '^$$' -fuzz '^FuzzCheckURL$$' -fuzztime $(FUZZTIME) ./callbacks

# The gallery's browser test (web/browser_test.go) drives Debian's Chromium.
chromium:
	@test -x /usr/bin/chromium || { echo "make: installing Debian's chromium for the gallery's browser test" >&2; \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q chromium; }

build:
	go build -o bin/easel ./cmd/easel

# The full chaos run of docs/RELIABILITY.md: 1,000 generations through three
# `easel serve` processes while they are SIGKILLed 15 times, the webhook
# receiver goes down and Postgres restarts (pg_ctlcluster 15 main: every
# user of that server notices). `make test` runs a short version.
chaos:
	go test -count=1 -v -timeout 30m -run '^TestChaos$$' ./internal/chaos -args -chaos.full -chaos.report=$(CURDIR)/chaos-report.json
