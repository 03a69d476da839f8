// Package awsenv builds the AWS SDK's configuration (aws.Config) from
// environment variables alone, as Lambda gives them to a function, without
// the SDK's config package (config.LoadDefaultConfig).
//
// That package reads the shared config and credentials files and links
// every credential provider, and with them the clients of SSO, SSO OIDC,
// STS and sign-in, whose endpoint tables and schemas are package variables
// built when the process starts, used or not. In Pier's api function that
// was 1.8 MB of binary, about 4,400 of the 12,000 allocations of package
// initialisation and about a third of the instructions from process start
// to ready: a part of every Lambda cold start. Pier's Lambda functions use
// Load; `pier` itself (serve, gc, the admin commands) keeps the SDK's full
// chain (profiles, SSO, web identity, IMDS ...).
//
// Load reads the variables Lambda sets and those that point Pier at other
// servers (LocalStack, DynamoDB Local, an S3-compatible store), with the
// meaning config.LoadDefaultConfig gives them (the tests compare the two):
//
//   - AWS_REGION, else AWS_DEFAULT_REGION;
//   - AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY), AWS_SECRET_ACCESS_KEY (or
//     AWS_SECRET_KEY), AWS_SESSION_TOKEN, AWS_ACCOUNT_ID: the credentials,
//     which must be there (Lambda sets them from the function's role);
//   - AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> (AWS_ENDPOINT_URL_S3,
//     AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER) and
//     AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
//   - AWS_MAX_ATTEMPTS and AWS_RETRY_MODE;
//   - AWS_CA_BUNDLE;
//   - AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT;
//   - AWS_REQUEST_CHECKSUM_CALCULATION and AWS_RESPONSE_CHECKSUM_VALIDATION;
//   - AWS_SDK_UA_APP_ID.
//
// It never asks the instance metadata service or a container endpoint
// for anything, so the variables that only tune those change nothing. A
// variable of the SDK that would change the outcome and that Load does not
// read (a profile or a shared file, a defaults mode, endpoint discovery,
// the S3 and compression settings: see Unsupported) is an error naming
// it, not silently ignored.
package awsenv
