# chatd: `make run` builds and starts the server; `make test` runs every test.

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# `make fuzz FUZZTIME=5m` runs each fuzz target that long. Without it, as in
# `make test`, each runs a fixed number of inputs (a few seconds' worth on a
# busy 2-core machine): Go 1.26's fuzzer can fail a time-limited run with a
# bare "context deadline exceeded" when its workers are slow to stop
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?=

# Fuzz targets, as package:Target:inputs.
FUZZ_TARGETS := ./room:FuzzClean:15000x ./proto:FuzzParseLine:60000x ./proto:FuzzLineReader:40000x ./internal/jetlog:FuzzDecode:20000x ./internal/jetkv:FuzzKeys:20000x

# Release targets: static binaries, no cgo.
PLATFORMS := linux/amd64 linux/arm64
DIST      ?= dist

.PHONY: build run cluster test vet fmt-check fuzz bench gobench release clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## run: build and start chatd with its defaults (extra flags: make run ARGS="--tls-addr :8443")
run: build
	./$(BIN)/chatd $(ARGS)

## cluster: a local demo of one room on three nodes: three nats-servers clustered
## on loopback and three chatd nodes on their own ports; prints how to connect
## to each; Ctrl-C stops it (scripts/cluster.sh; DEMO_DIR=cluster-demo keeps the room)
cluster:
	GO="$(GO)" BIN="$(BIN)" scripts/cluster.sh

## test: vet, formatting, a short fuzz run of each target, then every test with the race detector
test: vet fmt-check
	@$(MAKE) --no-print-directory fuzz
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz: run each fuzz target (make fuzz FUZZTIME=5m for a longer run)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		budget=$${FUZZTIME:-$$budget}; \
		echo "fuzz $$name in $$pkg for $$budget"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$budget $$pkg; \
	done

## bench: chatd against ncat --ssl --chat (apt-get install ncat jq) under the same
## load, side by side; BASELINE=REV compares with chatd built at git revision REV
## instead; then chatd on one node against three on a NATS cluster (CLUSTER=0
## skips it); see cmd/chatbench/bench.sh for the knobs (SIZES, DURATION, SSH=1, ...)
bench:
	cmd/chatbench/bench.sh

## bench-cluster: only chatd on one node against three nodes of one three-server
## NATS cluster (600 clients each); see cmd/chatbench/cluster_bench.sh for the knobs
.PHONY: bench-cluster
bench-cluster:
	cmd/chatbench/cluster_bench.sh

## gobench: the Go benchmarks (fan-out, encoding, screen rendering), with allocations
gobench:
	$(GO) test -run='^$$' -bench=. -benchmem ./room ./proto ./tlsgw ./tui

## release: static chatd and chat binaries for each platform in $(DIST), with SHA-256 sums
release:
	@set -e; rm -rf $(DIST); mkdir -p $(DIST); \
	for p in $(PLATFORMS); do \
		os=$${p%%/*}; arch=$${p##*/}; \
		for cmd in chatd chat; do \
			out=$(DIST)/$$cmd-$(VERSION)-$$os-$$arch; \
			echo "build $$out"; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out ./cmd/$$cmd; \
		done; \
	done; \
	cd $(DIST) && sha256sum * > SHA256SUMS && cat SHA256SUMS

clean:
	rm -rf $(BIN) $(DIST)
