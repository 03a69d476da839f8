// Command baseline is the smallest Lambda function in Go: the runtime
// library (aws-lambda-go) and a handler that answers every event with a
// 401, as Pier answers the cold-start ping. scripts/coldstart runs it
// under the emulator between Pier's runs: its cold start is what the
// emulator, the process start and the machine's load cost whatever the
// function, so that Pier's own part can be told from them.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	os.Stderr.WriteString(`{"msg":"ready","init_ms":0}` + "\n")
	lambda.Start(func(context.Context, json.RawMessage) (map[string]int, error) {
		return map[string]int{"statusCode": 401}, nil
	})
}
