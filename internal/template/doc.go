// Package template holds the tests of Pier's SAM template, template.yaml
// at the root of the repository. They parse it with goformation
// (github.com/awslabs/goformation/v7) and check what a deployment depends
// on: the resources and their conditions (an HTTP API, a REST API or a
// function URL, by the ApiType parameter), each function's runtime, build
// and limits, each function's IAM grants (exactly the expected actions on
// exactly the bucket, the table and, for the API function, the token
// signing key's secret, so a broader grant fails), the bucket's
// encryption, public access block and lifecycle rules, the table's keys,
// TTL and backups, the signing key's secret, the REST API's binary media
// types, 413 body and gate (its authorizer and the UNAUTHORIZED gateway
// response, which must be what internal/localapi models), the function URL
// and its permissions, the LocalStack scripts' stage, and that every
// environment variable the functions' code reads is set by the template or
// deliberately left out.
//
// goformation resolves intrinsic functions while it parses. Its own
// resolvers turn a Ref to a resource, a Fn::GetAtt and a pseudo parameter
// into nothing (or strip them out of a Fn::Sub), and leave a Fn::If
// unresolved; the tests resolve them instead to placeholders in Fn::Sub
// syntax (${Bucket}, ${Table.Arn}, ${AWS::Region}), parameters to their
// defaults (or to the overrides a test gives), and Fn::If by evaluating
// the template's conditions, so a check reads like the template.
//
// goformation reads SAM's GatewayResponses property as a map of strings,
// which a real gateway response (an object) is not, so the template
// writes the REST API's gateway responses into its OpenAPI body
// (x-amazon-apigateway-gateway-responses), which is what SAM does with
// that property anyway.
//
// The package has no code of its own besides its tests.
package template
