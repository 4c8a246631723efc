# dsys — see README.md. `make demo` runs the main job, `make test` the tests.

GO      ?= go
BIN     ?= bin/dsys
PKG     := github.com/dsys-dev/dsys
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/cmd.version=$(VERSION) -X $(PKG)/cmd.commit=$(COMMIT)
# The race detector needs cgo, so a C compiler; without one the tests run without it.
RACE    := $(shell command -v $${CC:-cc} >/dev/null 2>&1 && echo -race)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all help build install cross test test-all peers demo bench lint \
	demo-compute demo-zmq demo-queue bench-compute bench-zmq bench-queue

all: build

## help: list the targets and what they do
help:
	@awk '/^## [a-z-]+:/ { sub(/^## /, ""); i = index($$0, ":"); printf "  %-15s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(firstword $(MAKEFILE_LIST))

## build: the dsys binary in bin/, pure Go (CGO_ENABLED=0), version stamped
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## install: go install into GOBIN (default: bin/ of the first GOPATH entry), version stamped; says where, and how to put it on PATH
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' .
	@dir=$$($(GO) env GOBIN); if [ -z "$$dir" ]; then dir=$$($(GO) env GOPATH); dir=$${dir%%:*}/bin; fi; \
	  echo "installed $$dir/dsys$$($(GO) env GOEXE)"; \
	  case ":$$PATH:" in *":$$dir:"*) ;; \
	  *) echo "$$dir is not on PATH: add  export PATH=\"$$dir:\$$PATH\"  to your shell's startup file (~/.bashrc, ~/.zshrc, ~/.profile)";; esac

# CROSS: the GOOS/GOARCH pairs `make cross` builds.
CROSS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

## cross: bin/cross/dsys-OS-ARCH for linux, darwin and windows on amd64 and arm64 (CGO_ENABLED=0), and every package built for each
cross:
	@failed=; for t in $(CROSS); do os=$${t%/*}; arch=$${t#*/}; \
	  out=bin/cross/dsys-$$os-$$arch$$(GOOS=$$os $(GO) env GOEXE); echo "== $$out" >&2; \
	  if ! { CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out . && \
	         CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build ./... ; }; then failed="$$failed $$t"; fi; done; \
	  if [ -n "$$failed" ]; then echo "cross: the build failed for$$failed" >&2; exit 1; fi; \
	  echo "cross: built $(words $(CROSS)) targets in bin/cross" >&2

## test: every test; integration tests skip with a reason when their service is absent
test:
	CGO_ENABLED=$(if $(RACE),1,0) $(GO) test $(RACE) -count=1 -timeout 20m ./...
	@# The 1e8-value accuracy test is too slow under -race, so it skips there: run it once without.
	$(if $(RACE),$(GO) test -count=1 -run 'TestMeanExact1e8' ./compute/)

## test-all: install the test peers, then run the tests with nothing allowed to skip
test-all: peers
	DSYS_TEST_REQUIRE_SERVICES=1 $(MAKE) test

## peers: install (from Debian's packages) and start what integration tests and benchmarks need
peers:
	./scripts/install-peers.sh

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## demo: the main job of each subsystem on built-in defaults, then one line saying all parts worked
demo: build demo-compute demo-zmq demo-queue
	@echo "== demo: all parts worked (compute, zmq, queue)" >&2

## demo-compute: the seed job: the mean of a lazily generated 10000×10000 random array in 1000×1000 chunks
demo-compute: build
	@echo "== dsys compute mean   # x = da.random.random((10000, 10000), chunks=(1000, 1000)); x.mean()" >&2
	@if [ -x /usr/bin/time ]; then /usr/bin/time -f "   (%es wall, peak RSS %MKB)" $(BIN) compute mean </dev/null; \
	else $(BIN) compute mean </dev/null; fi

## demo-zmq: serve (REP) on a free loopback port and send Hello (REQ): World (ZMQ_DEMO_PORT=N picks the port)
demo-zmq: build
	@echo "== dsys zmq: serve (REP) in the background, send Hello (REQ), expect World" >&2
	@DSYS=$(BIN) ./scripts/demo-zmq.sh

## demo-queue: a worker and submit --wait round trips
demo-queue: build
	@DSYS=$(BIN) ./scripts/demo-queue.sh

## bench: every benchmark, each beside its anchor in the same run (see README)
bench: build bench-compute bench-zmq bench-queue

## bench-compute: dsys compute beside Dask, NumPy and datamash (bench/compute/run.sh; RUNS=n)
bench-compute: build
	./bench/compute/run.sh $(RUNS)

## bench-zmq: PUSH/PULL throughput, REQ/REP latency, CURVE and proxies, dsys beside libzmq (C) and pyzmq
bench-zmq: build
	@echo "== zmq benchmark (bench/zmq/run.sh; REPS=5 by default)" >&2
	@bench/zmq/run.sh $(BIN)

## bench-queue: 10,000 add tasks through RabbitMQ, dsys vs Celery 5 (prefork), plus one-task round trip p50
bench-queue: build
	@DSYS=$(BIN) ./bench/queue/run.sh
