# Pier's Makefile. The two commands of the README:
#   make run    serve the registry with embedded storage on 127.0.0.1:5000
#   make test   run every test (unit, store contract, fuzz seeds and short
#               fuzzing, the OCI conformance suite, crane end to end)
# Outside tools are built once into $(PIER_CACHE) (scripts/tools.sh).

GO        ?= go
PIER_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pier
export PIER_CACHE
FUZZTIME  ?= 10s

.PHONY: run test unit fuzz conformance e2e build-pier vet clean

run:
	$(GO) run ./cmd/pier serve

build-pier:
	$(GO) build -o build/pier ./cmd/pier

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:" $$out; exit 1; fi

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs for FUZZTIME on top of its seed corpus (which the
# unit run already checks).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseRoute$$' -fuzztime=$(FUZZTIME) ./internal/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzParseContentRange$$' -fuzztime=$(FUZZTIME) ./internal/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzParseManifest$$' -fuzztime=$(FUZZTIME) ./internal/oci

conformance: build-pier
	scripts/conformance.sh v1.1 OCI_VERSION=1.1
	scripts/conformance.sh dev OCI_VERSION=dev
	scripts/conformance.sh sparse OCI_VERSION=1.1 OCI_DATA_SPARSE=true PIER_ALLOW_SPARSE=true

test: vet unit fuzz conformance

clean:
	rm -rf build data
