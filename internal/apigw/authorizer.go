package apigw

import (
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// The gate of a REST API.
//
// A REST API renames the WWW-Authenticate header of every Lambda proxy
// response to X-Amzn-Remapped-WWW-Authenticate (the header table of
// "Amazon API Gateway important notes for REST APIs",
// api-gateway-known-issues.html), so no client sees the Bearer challenge
// of Pier's 401s and none can find the token endpoint. What a REST API
// does send as written are the headers of its own gateway responses
// ("Gateway responses for REST APIs", set-up-gateway-response-using-the-console.html).
// So template.yaml puts a Lambda REQUEST authorizer, this function, on
// every route but the token endpoint, with the Authorization header as its
// identity source: API Gateway answers a request without one itself with
// its UNAUTHORIZED gateway response (401, not calling the authorizer),
// which carries the challenge. A request with an Authorization header gets
// to the authorizer, which lets it through: Pier checks the credentials
// itself, as behind the other front doors. The authorizer's answer is
// cached per Authorization value (authorizerResultTtlInSeconds), so it
// costs one extra invocation per credential or token, not one per request.

// authorizerEvent reports whether the raw fields of an event are those of a
// REST API's REQUEST authorizer: "type":"REQUEST" and a methodArn.
func authorizerEvent(e *anyEvent) bool {
	return e.Type == "REQUEST" && e.MethodArn != ""
}

// allow is the authorizer's answer to a request for method ARN arn
// (arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH): a policy that
// allows every method and path of the stage, so that the answer API
// Gateway caches for one Authorization value serves all of its requests.
func allow(arn string) (events.APIGatewayCustomAuthorizerResponse, error) {
	parts := strings.SplitN(arn, "/", 3)
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "arn:") || parts[1] == "" {
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("apigw: authorizer event: methodArn %q is not an execute-api method ARN", arn)
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: "pier",
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{parts[0] + "/" + parts[1] + "/*"},
			}},
		},
	}, nil
}
