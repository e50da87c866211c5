# pgdst: build, test, bench, lint (gofmt, vet, staticcheck), campaign. Everything it needs comes from
# go.mod through the Go module proxy.
GO ?= go
PKGS := ./...

.PHONY: all build test test-short bench lint fuzz campaign mutants screenshots clean deps

all: build test

build:
	$(GO) build -o bin/pgdst ./cmd/pgdst

# The full test suite: unit, property (rapid), determinism across processes,
# planted bugs. `go vet` runs first so a vet failure fails the tests. Then
# every benchmark runs once (about 10 s): benchmarks assert what they
# measure (BenchmarkCrashCycle that every INSERT was acknowledged), and a
# swarm draw once broke one unnoticed until `make bench`.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)
	# Real-mode processes run in parallel: the race detector watches the
	# test that shares the buffer pool's flush path between them (a few s).
	$(GO) test -race -count=1 -run 'TestParallelFlushesWriteTheirOwnPages' ./engine/buffer
	@mkdir -p bin
	@echo "every benchmark once (output in bin/bench-once.log)"
	@$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x $(PKGS) >bin/bench-once.log 2>&1 || { grep -v '^ok\|^Benchmark\|^goos\|^goarch\|^pkg\|^cpu\|^PASS\|no test files' bin/bench-once.log; exit 1; }

test-short:
	$(GO) test -count=1 -short $(PKGS)

# Speed goals live here, never in timed tests.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s $(PKGS)

# staticcheck is pinned and fetched through the module proxy by `go run`, so
# a fresh machine needs nothing installed by hand; it is not a dependency in
# go.mod because no package imports it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# Each decoder's fuzz target, briefly; FUZZTIME=10m for a real session.
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./engine/wal -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/wal -run '^$$' -fuzz '^FuzzDecodeBody$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/wal -run '^$$' -fuzz '^FuzzRecycledSegment$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/proc -run '^$$' -fuzz '^FuzzDecodeRepl$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/db -run '^$$' -fuzz '^FuzzParseBackupLabel$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/catalog -run '^$$' -fuzz '^FuzzDecodeMap$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/page -run '^$$' -fuzz '^FuzzVerify$$' -fuzzminimizetime 100x -fuzztime $(FUZZTIME)
	$(GO) test ./engine/page -run '^$$' -fuzz '^FuzzDecodeTuple$$' -fuzztime $(FUZZTIME)
	$(GO) test ./fault -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./harness/repro -run '^$$' -fuzz '^FuzzParseRepro$$' -fuzztime $(FUZZTIME)
	$(GO) test ./harness/cli -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/wal -run '^$$' -fuzz '^FuzzReadPages$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/db -run '^$$' -fuzz '^FuzzParseHistory$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/heapam -run '^$$' -fuzz '^FuzzRedoDecoders$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/nbtree -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./engine/xact -run '^$$' -fuzz '^FuzzDecodeXactRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./serve -run '^$$' -fuzz '^FuzzFrontendDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./serve -run '^$$' -fuzz '^FuzzScramMessages$$' -fuzztime $(FUZZTIME)

campaign:
	$(GO) run ./cmd/pgdst campaign --seeds 200

# Mutation testing: each engine mutant in testdata/mutants against the plain
# campaign of MUTANT_SEEDS seeds (docs/mutants.md); MUTANTS=name,... for some.
MUTANT_SEEDS ?= 2000
MUTANT_JOBS ?= 1
mutants:
	mkdir -p bin
	$(GO) run ./cmd/mutants --seeds $(MUTANT_SEEDS) --jobs $(MUTANT_JOBS) $(if $(MUTANTS),--only $(MUTANTS)) --json bin/mutants.json

# The README's screenshots of a failing run's report and porcupine pages,
# taken by the browser test (harness/report/browser_test.go) in a headless
# Chromium (Debian's chromium package).
screenshots:
	$(GO) test ./harness/report -run '^TestBrowserShowsTheFailure$$' -count=1 -v -args -screenshots $(CURDIR)/docs

# What the tests drive besides Go, from Debian's packages, installed when
# missing: chromium for the browser test, postgresql-15 and
# postgresql-client-15 for the probe tests, which start their own server
# (internal/pgtest). .ci/run does it before the tests.
deps:
	./.ci/run deps

clean:
	rm -rf bin

# pgdst serve against PostgreSQL 15 with pgbench (a benchmark, not a test):
# SERVE_CLIENTS clients for SERVE_SECONDS seconds each.
SERVE_CLIENTS ?= 4
SERVE_SECONDS ?= 10
.PHONY: bench-serve
bench-serve:
	bench/pgbench_serve.sh $(SERVE_CLIENTS) $(SERVE_SECONDS)

# pgdst serve's wire decoder, briefly (FUZZTIME as for fuzz).
.PHONY: fuzz-serve
fuzz-serve:
	$(GO) test ./serve -run '^$$' -fuzz '^FuzzFrontendDecode$$' -fuzztime $(FUZZTIME)
