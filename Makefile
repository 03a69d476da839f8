# Pier's Makefile. The two commands of the README:
#   make run    serve the registry with embedded storage on 127.0.0.1:5000
#   make test   run every test (unit, store contract on both backends, fuzz
#               seeds and short fuzzing, the OCI conformance suite on both
#               backends, crane end to end)
# Outside tools are built once into $(PIER_CACHE) (scripts/tools.sh); the
# tests of the aws backend run on DynamoDB Local and versitygw, started on
# free loopback ports and always stopped (scripts/with-local-aws.sh).

GO        ?= go
PIER_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pier
export PIER_CACHE
# Count-based: a duration-based -fuzztime can fail with "context deadline
# exceeded" and no crasher on Go 1.26 (golang/go#75804).
FUZZTIME  ?= 300000x

.PHONY: run test unit fuzz conformance conformance-local conformance-aws build-pier vet clean local-aws-start local-aws-stop

run:
	$(GO) run ./cmd/pier serve

build-pier:
	$(GO) build -o build/pier ./cmd/pier

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:" $$out; exit 1; fi

unit:
	scripts/with-local-aws.sh $(GO) test -race -count=1 ./...

local-aws-start:
	scripts/local-aws.sh start
local-aws-stop:
	scripts/local-aws.sh stop

# Each fuzz target runs FUZZTIME inputs on top of its seed corpus (which
# the unit run already checks).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseRoute$$' -fuzztime=$(FUZZTIME) ./internal/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzParseContentRange$$' -fuzztime=$(FUZZTIME) ./internal/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzParseManifest$$' -fuzztime=$(FUZZTIME) ./internal/oci

conformance: conformance-local conformance-aws

conformance-local: build-pier
	scripts/conformance.sh v1.1 OCI_VERSION=1.1
	scripts/conformance.sh dev OCI_VERSION=dev
	scripts/conformance.sh sparse OCI_VERSION=1.1 OCI_DATA_SPARSE=true PIER_ALLOW_SPARSE=true

# On the aws backend the blob GET is a redirect to a presigned S3 URL, which
# cannot carry Docker-Content-Digest: the one setting that differs.
AWS_CONFORMANCE = PIER_BACKEND=aws PIER_CREATE_RESOURCES=true OCI_API_BLOBS_DIGEST_HEADER=false
conformance-aws: build-pier
	scripts/with-local-aws.sh sh -c '\
	  scripts/conformance.sh aws-v1.1 OCI_VERSION=1.1 $(AWS_CONFORMANCE) PIER_BUCKET=conf-v11 PIER_TABLE_PREFIX=conf-v11- && \
	  scripts/conformance.sh aws-dev OCI_VERSION=dev $(AWS_CONFORMANCE) PIER_BUCKET=conf-dev PIER_TABLE_PREFIX=conf-dev-'

test: vet unit fuzz conformance

clean:
	rm -rf build data
