#!/bin/sh
# Deploys template.yaml to LocalStack (make localstack-deploy), behind a REST
# API (ApiType=rest: LocalStack's free plan has no HTTP APIs), for the
# host's architecture. LocalStack must be running (make localstack-up).
#
# Settings (environment): LOCALSTACK_ENDPOINT (default
# http://localhost.localstack.cloud:4566), STACK (default pier),
# LOCALSTACK_ARCH (default: this machine's), AWS_DEFAULT_REGION (default
# us-east-1).
set -eu
cd "$(dirname "$0")/../.."

fail() { echo "localstack-deploy: $*" >&2; exit 1; }
command -v docker >/dev/null 2>&1 || fail "docker is not installed: LocalStack and its Lambda functions run in Docker"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed): LocalStack needs one"
command -v sam >/dev/null 2>&1 || fail "the AWS SAM CLI (sam) is not installed: it builds and deploys the template"
command -v curl >/dev/null 2>&1 || fail "curl is not installed"

endpoint=${LOCALSTACK_ENDPOINT:-http://localhost.localstack.cloud:4566}
stack=${STACK:-pier}
curl -fsS --max-time 5 "$endpoint/_localstack/health" >/dev/null 2>&1 ||
	fail "LocalStack does not answer at $endpoint: start it with make localstack-up"

# Lambda containers run on this machine: build for its architecture.
case ${LOCALSTACK_ARCH:-$(uname -m)} in
x86_64 | amd64) arch=x86_64 ;;
aarch64 | arm64) arch=arm64 ;;
*) fail "unknown architecture $(uname -m): set LOCALSTACK_ARCH to arm64 or x86_64" ;;
esac

# LocalStack takes any credentials.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="$AWS_DEFAULT_REGION"

LAMBDA_ARCH=$arch sam build --template-file template.yaml --build-in-source

# samlocal (pip package aws-sam-cli-local) points sam at LocalStack; without
# it, the SDK's own AWS_ENDPOINT_URL does.
if command -v samlocal >/dev/null 2>&1; then
	deploy=samlocal
else
	deploy=sam
	export AWS_ENDPOINT_URL="$endpoint"
fi
$deploy deploy --stack-name "$stack" --resolve-s3 --capabilities CAPABILITY_IAM \
	--no-confirm-changeset --no-fail-on-empty-changeset \
	--parameter-overrides ApiType=rest Architecture="$arch"

$deploy list stack-outputs --stack-name "$stack" --output table || true
cat <<MSG

On LocalStack the registry (the REST API's stage v2, resources at its root) is
  http://<ApiId>.execute-api.localhost.localstack.cloud:4566/v2/
(ApiId: the output above). Try: curl -i http://<ApiId>.execute-api.localhost.localstack.cloud:4566/v2/
MSG
