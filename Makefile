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

.PHONY: all build deps demo test test-unit test-vm gpu-check lint fmt fuzz install clean bench sim-results

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
# skip with the reason elsewhere); then the scheduler's two-goroutine
# pass (sched/lanes.go) again under the race detector.
test: deps lint
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -run 'TestLanes' ./sched

test-unit:
	$(GO) test -short ./...

# The cgroup and container tests on a pure cgroup v2 host: a QEMU guest
# booted from Debian's kernel (KVM where it works, else TCG), see
# scripts/vm-test.sh. Installs qemu-system-x86 and busybox-static as root.
test-vm:
	./scripts/vm-test.sh

# On a host with NVIDIA GPUs, as root: NVML discovery, the GPU tests, and
# real GPU jobs (confinement, PyTorch, NCCL) on a local cluster; see
# docs/gpu-check.md. Needs the driver and a python3 with PyTorch.
gpu-check: build
	$(GO) test -c -o bin/gpu.test ./gpu
	$(GO) test -c -o bin/discover.test ./noded/discover
	$(GO) test -c -o bin/runner.test ./noded/runner
	./scripts/gpu-check.sh bin

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
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSpec$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzParseBeginTime$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzParseArray$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./depend/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./recur/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./swf/
	$(GO) test -run '^$$' -fuzz '^FuzzParseNodes$$' -fuzztime $(FUZZTIME) ./sim/
	for f in FuzzResReq FuzzGPU FuzzJobName FuzzDirectives; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./lsf/ || exit 1; done

# The scheduling engine's benchmarks (passes over 1k-100k pending jobs,
# whole-trace replays); figures in docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./sched/ ./sim/

# Replays every trace in ../shared/traces with each policy and both
# estimate modes into docs/sim-results.md (its table).
TRACES ?= ../shared/traces
sim-results: build
	@rm -f docs/sim-results.table.md
	@for f in $(TRACES)/*.swf.gz; do for e in user actual; do \
		$(BIN) sim --swf $$f --policy all --estimates $$e --markdown docs/sim-results.table.md || exit 1; done; done
	@sed -n '1,/^<!-- table -->$$/p' docs/sim-results.md > docs/sim-results.new
	@cat docs/sim-results.table.md >> docs/sim-results.new
	@sed -n '/^<!-- end of table -->$$/,$$p' docs/sim-results.md >> docs/sim-results.new
	@mv docs/sim-results.new docs/sim-results.md && rm docs/sim-results.table.md

# The LSF commands are the same binary under other names (cli/lsf.go).
LSF_COMMANDS := bsub bjobs bkill bstop bresume bhosts bqueues bpeek bhist bacct badmin

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gantry
	for c in $(LSF_COMMANDS); do ln -sf gantry $(DESTDIR)$(PREFIX)/bin/$$c; done
	for u in gantry-server gantry-node; do \
		mkdir -p $(DESTDIR)/lib/systemd/system && \
		sed 's|/usr/local/bin/gantry|$(PREFIX)/bin/gantry|' packaging/systemd/$$u.service > $(DESTDIR)/lib/systemd/system/$$u.service && \
		chmod 0644 $(DESTDIR)/lib/systemd/system/$$u.service && \
		{ [ -e $(DESTDIR)/etc/default/$$u ] || install -D -m 0644 packaging/systemd/$$u.default $(DESTDIR)/etc/default/$$u; } || exit 1; \
	done
	install -d $(DESTDIR)/usr/share/bash-completion/completions $(DESTDIR)/usr/share/zsh/vendor-completions $(DESTDIR)$(PREFIX)/share/man/man1
	$(BIN) completion bash > $(DESTDIR)/usr/share/bash-completion/completions/gantry
	$(BIN) completion zsh > $(DESTDIR)/usr/share/zsh/vendor-completions/_gantry
	chmod 0644 $(DESTDIR)/usr/share/bash-completion/completions/gantry $(DESTDIR)/usr/share/zsh/vendor-completions/_gantry
	$(BIN) man --dir $(DESTDIR)$(PREFIX)/share/man/man1

clean:
	rm -rf bin
