package awsstore

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/pier-registry/pier/internal/store"
)

// countRequests returns an SDK option that counts every request attempt
// sent to service in the store.Requests of the call's context. It sits in
// the deserialize step, which a presigned request never reaches, so
// presigning (local work) is not counted.
func countRequests(service string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("PierCountRequests",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				store.RequestsFrom(ctx).Add(service, awsmiddleware.GetOperationName(ctx))
				return next.HandleDeserialize(ctx, in)
			}), middleware.After)
	}
}
