# Every binary is pure Go: CGO_ENABLED=0 (the race detector in tests may use cgo).
GO       ?= go
BIN      := dist/bin
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS  := -X github.com/damocles-go/damocles/internal/version.Commit=$(COMMIT)
BINARIES := damocles-manager damocles-worker damocles-devnet

.PHONY: build test fmt-check vet demo clean $(BINARIES)

build: $(BINARIES)

$(BINARIES):
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$@ ./cmd/$@

# The README's test command: formatting, vet, and every test under the race
# detector. PostgreSQL and MariaDB tests skip loudly when their server is
# missing, and fail instead when CI=true.
# -parallel 4: the end-to-end tests spend their time waiting for the
# devnet's epochs, not on the CPU, and the longest (a whole proving
# period) would otherwise queue the others behind it on a 2-core machine.
test: fmt-check vet
	$(GO) test -race -timeout 28m -parallel 4 ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Seals 8 sectors on a devnet (in the demo's process) with a manager
# (SQLite, --poster) and a worker on loopback in a throw-away directory,
# shows every deadline holding sectors until each is proven, and prints
# proven=P missed=M faulty=F (exit 0 only when M and F are 0); Ctrl-C stops
# everything. DEMO_FLAGS adds flags: make demo DEMO_FLAGS="--keep-running".
demo: build
	$(BIN)/damocles-devnet demo $(DEMO_FLAGS)

clean:
	rm -rf dist
