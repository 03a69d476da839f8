# Pier's Makefile. The two commands of the README:
#   make run    serve the registry with embedded storage on 127.0.0.1:5000
#   make test   run every test (unit, store contract on both backends, fuzz
#               seeds and short fuzzing, the OCI conformance suite on both
#               backends, crane end to end, the interop suite: crane, oras,
#               regctl and skopeo on pier serve and the local Lambda path,
#               and headless Chromium opening sites on both)
# Outside tools are built once into $(PIER_CACHE) (scripts/tools.sh); the
# tests of the aws backend run on DynamoDB Local and versitygw, started on
# free loopback ports and always stopped (scripts/with-local-aws.sh, which
# sets PIER_REQUIRE_LOCAL_AWS=1: a test that needs them fails, never skips;
# a plain `go test ./...` without the servers skips those tests).

GO        ?= go
PIER_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pier
export PIER_CACHE
# Count-based: a duration-based -fuzztime can fail with "context deadline
# exceeded" and no crasher on Go 1.26 (golang/go#75804).
FUZZTIME  ?= 300000x

.PHONY: run test unit faults fuzz conformance conformance-local conformance-aws conformance-lambda local-api bench bench-coldstart bench-registry bench-large bench-gc build-pier vet clean local-aws-start local-aws-stop interop sites

# A development registry on loopback: open (--auth=none). See the README's
# "Logging in" for a registry with auth on.
run:
	$(GO) run ./cmd/pier serve --auth=none

build-pier:
	$(GO) build -o build/pier ./cmd/pier

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:" $$out; exit 1; fi

# cmd/pier runs pier serve, the local Lambda path and the fault proxies
# many times over: with -race on 2 cores it can pass go test's default
# 10-minute limit.
unit:
	scripts/with-local-aws.sh $(GO) test -race -count=1 -timeout 30m -skip '^TestFaultInjection$$' ./...

# The fault-injection suite (cmd/pier/fault_test.go): S3 and DynamoDB
# behind proxies that inject server errors, throttling, dropped
# connections and slow answers; it prints its report line (pushes
# acknowledged, failed, lost, corrupt objects).
faults:
	mkdir -p build
	@rc=0; scripts/with-local-aws.sh $(GO) test -count=1 -v -run '^TestFaultInjection$$' ./cmd/pier >build/faults.log 2>&1 || rc=$$?; \
	grep -E 'fault injection|^(--- |ok|FAIL)' build/faults.log; \
	[ $$rc -eq 0 ] || { tail -50 build/faults.log; exit $$rc; }

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
	$(GO) test -run='^$$' -fuzz='^FuzzValidName$$' -fuzztime=$(FUZZTIME) ./internal/oci
	$(GO) test -run='^$$' -fuzz='^FuzzValidTag$$' -fuzztime=$(FUZZTIME) ./internal/oci

conformance: conformance-local conformance-aws conformance-lambda

conformance-local: build-pier
	scripts/conformance.sh v1.1 OCI_VERSION=1.1
	scripts/conformance.sh dev OCI_VERSION=dev
	scripts/conformance.sh sparse OCI_VERSION=1.1 OCI_DATA_SPARSE=true PIER_ALLOW_SPARSE=true
	scripts/conformance.sh auth OCI_VERSION=1.1 PIER_AUTH=token

# On the aws backend the blob GET is a redirect to a presigned S3 URL, which
# cannot carry Docker-Content-Digest: the one setting that differs.
AWS_CONFORMANCE = PIER_BACKEND=aws PIER_CREATE_RESOURCES=true OCI_API_BLOBS_DIGEST_HEADER=false
conformance-aws: build-pier
	scripts/with-local-aws.sh sh -c '\
	  scripts/conformance.sh aws-v1.1 OCI_VERSION=1.1 $(AWS_CONFORMANCE) PIER_BUCKET=conf-v11 PIER_TABLE_PREFIX=conf-v11- && \
	  scripts/conformance.sh aws-dev OCI_VERSION=dev $(AWS_CONFORMANCE) PIER_BUCKET=conf-dev PIER_TABLE_PREFIX=conf-dev-'

# Through the local Lambda path (make local-api): the bootstrap binary
# under the Runtime Interface Emulator, behind the local front of each
# front door (HTTP API, REST API, function URL), with auth on (the suite
# logs in) but behind the REST API: there AWS renames the WWW-Authenticate
# of Pier's 401s, and the suite takes its token's scope from that header
# alone (the gate's challenge, which AWS sends, cannot name the request's
# repository). The interop suite logs in through the REST API's gate with
# four clients that ask for the scopes they need.
conformance-lambda: build-pier
	scripts/with-local-aws.sh sh -c '\
	  PIER_TARGET=local-api PIER_LOCAL_API_KIND=http scripts/conformance.sh lambda-http OCI_VERSION=1.1 \
	    OCI_API_BLOBS_DIGEST_HEADER=false PIER_AUTH=token PIER_BUCKET=conf-lhttp PIER_TABLE_PREFIX=conf-lhttp- && \
	  PIER_TARGET=local-api PIER_LOCAL_API_KIND=rest scripts/conformance.sh lambda-rest OCI_VERSION=1.1 \
	    OCI_API_BLOBS_DIGEST_HEADER=false PIER_BUCKET=conf-lrest PIER_TABLE_PREFIX=conf-lrest- && \
	  PIER_TARGET=local-api PIER_LOCAL_API_KIND=url scripts/conformance.sh lambda-url OCI_VERSION=1.1 \
	    OCI_API_BLOBS_DIGEST_HEADER=false PIER_AUTH=token PIER_BUCKET=conf-lurl PIER_TABLE_PREFIX=conf-lurl-'

# Benchmarks (never part of make test: figures, not pass/fail of the code).
bench: bench-coldstart bench-registry bench-large bench-gc

# The cold start of the api function under the Runtime Interface Emulator,
# as Lambda counts it: with the emulator up, the first invocation (runtime
# process start, init, the request) against the 50 ms target, with the
# emulator's Init Duration; the emulator's own start-up and the old measure
# (emulator start to first response) without a target. Each run next to
# one of the smallest Go function (the baseline: what the emulator and the
# machine's load cost), with the load average.
bench-coldstart:
	mkdir -p build/bench
	CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/bench/bootstrap ./functions/api
	CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/bench/baseline ./scripts/coldstart/baseline
	$(GO) run ./scripts/coldstart -rie "$$(scripts/tools.sh rie)" -bootstrap build/bench/bootstrap -baseline build/bench/baseline -runs 25

# Pier (embedded and aws backends) and CNCF Distribution v3.1.2 (S3 driver)
# side by side on DynamoDB Local + versitygw, behind counting proxies: wall
# time, S3 and DynamoDB requests per operation, peak RSS, written to
# docs/bench/results.md. BENCH_FLAGS sets the scale (go run ./scripts/bench -h).
BENCH_FLAGS ?=
bench-registry:
	mkdir -p build/bench
	$(GO) build -o build/bench/pier ./cmd/pier
	scripts/with-local-aws.sh $(GO) run ./scripts/bench -pier build/bench/pier \
	  -distribution "$$(scripts/tools.sh distribution || true)" -out docs/bench/results.md $(BENCH_FLAGS)

# The large push (issue 11's targets), in one run on DynamoDB Local +
# versitygw behind the counting proxies: a 1 GiB / 16-layer image by a raw
# S3 multipart upload, by pier push through the local Lambda path (direct
# uploads), by Distribution, and in 4 MiB chunks through Lambda; times,
# S3+DynamoDB requests and the ratios, written to docs/bench/large.md.
# LARGE_FLAGS sets the scale (e.g. -big-mib 128 -runs 1 while developing).
LARGE_FLAGS ?=
bench-large:
	mkdir -p build/bench
	$(GO) build -o build/bench/pier ./cmd/pier
	scripts/with-local-aws.sh $(GO) run ./scripts/bench -suite large -pier build/bench/pier \
	  -distribution "$$(scripts/tools.sh distribution)" -workdir build/bench/work-large $(LARGE_FLAGS)

# Garbage collection (issue 12) over a registry of 10,000 blobs on
# DynamoDB Local + versitygw, half of them unreferenced: pier gc's dry run,
# marking run, deleting run (after a short settle) and empty run, each
# timed, with its S3 and DynamoDB requests by action, written to
# docs/bench/gc.md. GC_FLAGS sets the scale (e.g. -gc-blobs 1000).
GC_FLAGS ?=
bench-gc:
	mkdir -p build/bench
	$(GO) build -o build/bench/pier ./cmd/pier
	scripts/with-local-aws.sh $(GO) run ./scripts/bench -suite gc -pier build/bench/pier \
	  -workdir build/bench/work-gc $(GC_FLAGS)

# The Lambda function on this machine: RIE, the local front door
# (PIER_LOCAL_API_KIND=http|rest|url, PIER_LOCAL_API_ADDR), DynamoDB Local and
# versitygw. Ctrl-C stops everything.
local-api:
	scripts/local-api.sh

# The interop suite (cmd/pier/interop_test.go): crane, oras, regctl and
# skopeo (scripts/tools.sh interop) run user workflows against pier serve
# and the local Lambda path; so does docker (interop_docker_test.go:
# Debian's docker.io, installed by the test with scripts/tools.sh docker,
# and a daemon of its own, scripts/dockerd.sh, which needs root).
interop:
	scripts/tools.sh interop >/dev/null
	scripts/tools.sh docker >/dev/null
	scripts/with-local-aws.sh $(GO) test -count=1 -timeout 30m -run Interop ./cmd/pier

# The end-to-end test of sites (cmd/pier/site_e2e_test.go): oras pushes a
# site to pier serve and the local Lambda path, headless Chromium opens it.
sites:
	scripts/tools.sh oras >/dev/null
	scripts/tools.sh chromium >/dev/null
	scripts/with-local-aws.sh $(GO) test -count=1 -run Sites ./cmd/pier

test: vet unit faults fuzz conformance interop sites

clean:
	rm -rf build data

# ---------------------------------------------------------------------------
# Lambda packages and deployment: template.yaml, infra/ (this block only
# adds targets; nothing above depends on it).
#
#   make build                 build/lambda/{arm64,x86_64}/{api,gc}.zip, each
#                              holding one `bootstrap`
#   sam build                  runs build-ApiFunction and build-GcFunction
#                              (BuildMethod: makefile), for LAMBDA_ARCH
#   make template-test         the template checks (goformation, cfn-lint)
#   make localstack-up/-deploy/-down   the template on LocalStack (Docker)
#
# sam build passes a make target nothing but ARTIFACTS_DIR (not the
# function's architecture), so the architecture comes from LAMBDA_ARCH:
# build with the value that the stack's Architecture parameter has, e.g.
#   LAMBDA_ARCH=x86_64 sam build && sam deploy --parameter-overrides Architecture=x86_64
# A mismatch deploys, then fails at the first invocation (exec format error).

LAMBDA_ARCH      ?= arm64
LAMBDA_ARCHES    := arm64 x86_64
LAMBDA_FUNCTIONS := api gc
LAMBDA_ZIPS      := $(foreach a,$(LAMBDA_ARCHES),$(foreach f,$(LAMBDA_FUNCTIONS),build/lambda/$(a)/$(f).zip))

# lambda_goarch maps a Lambda architecture to GOARCH.
lambda_goarch = $(or $(if $(filter x86_64,$(1)),amd64),$(if $(filter arm64,$(1)),arm64),$(error LAMBDA_ARCH is "$(1)": want arm64 or x86_64))
# lambda_build,function,architecture,output builds ./functions/<function>.
lambda_build = CGO_ENABLED=0 GOOS=linux GOARCH=$(call lambda_goarch,$(2)) \
	$(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(3) ./functions/$(1)

.PHONY: build build-ApiFunction build-GcFunction template-test localstack-up localstack-deploy localstack-down lambda-force

build: $(LAMBDA_ZIPS)
	@ls -l $(LAMBDA_ZIPS) $(foreach z,$(LAMBDA_ZIPS),$(basename $(z))/bootstrap) | awk '{print $$5, $$9}'

# Always rebuilt: go's own cache decides what is stale.
build/lambda/%.zip: lambda-force
	$(call lambda_build,$(notdir $*),$(patsubst %/,%,$(dir $*)),build/lambda/$*/bootstrap)
	$(GO) run ./infra/lambdazip -o $@ build/lambda/$*/bootstrap

lambda-force:

build-ApiFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is unset: sam build sets it (or run make build)"; exit 1; }
	$(call lambda_build,api,$(LAMBDA_ARCH),$(ARTIFACTS_DIR)/bootstrap)

build-GcFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is unset: sam build sets it (or run make build)"; exit 1; }
	$(call lambda_build,gc,$(LAMBDA_ARCH),$(ARTIFACTS_DIR)/bootstrap)

template-test:
	$(GO) vet ./internal/template ./infra/...
	$(GO) test -count=1 ./internal/template ./infra/...

LOCALSTACK_COMPOSE = infra/localstack/docker-compose.yml

localstack-up:
	@command -v docker >/dev/null 2>&1 || { echo "localstack-up: docker is not installed (LocalStack runs in Docker)"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "localstack-up: the docker compose plugin (v2) is not installed"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "localstack-up: no Docker engine answers (docker info failed)"; exit 1; }
	docker compose -f $(LOCALSTACK_COMPOSE) up -d --wait

localstack-deploy:
	infra/localstack/deploy.sh

localstack-down:
	@command -v docker >/dev/null 2>&1 || { echo "localstack-down: docker is not installed"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "localstack-down: the docker compose plugin (v2) is not installed"; exit 1; }
	docker compose -f $(LOCALSTACK_COMPOSE) down
