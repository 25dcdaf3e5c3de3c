# Gantry's build. `make demo` runs a local cluster with real jobs; `make test`
# is what CI runs. Both install what they need (Go modules; Debian packages
# when run as root) and assume only Go and gcc on the machine.

GO        ?= go
BIN       := bin/gantry
PREFIX    ?= /usr/local
# cgo is required (libcontainer's nsenter, go-sqlite3, go-nvml); this
# silences go-nvml's CUDA deprecation warnings on the first build.
export CGO_ENABLED := 1
export CGO_CFLAGS  := -O2 -g -Wno-deprecated-declarations
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 30s

.PHONY: all build deps demo test test-unit lint fmt fuzz install clean

all: build

deps:
	@./scripts/install-deps.sh
	$(GO) mod download

build:
	$(GO) build -o $(BIN) ./cmd/gantry

demo: deps build
	./scripts/demo.sh $(BIN)

# The whole suite: formatting, vet, staticcheck, unit tests, and the
# integration tests (real containers and cgroups when run as root; they
# skip with the reason elsewhere).
test: deps lint
	$(GO) test -count=1 -timeout 15m ./...

test-unit:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Fuzz every parser and the API decoder for FUZZTIME each.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseMemory$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzParseWalltime$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cpuset/
	$(GO) test -run '^$$' -fuzz '^FuzzAPI$$' -fuzztime $(FUZZTIME) ./server/

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gantry

clean:
	rm -rf bin
