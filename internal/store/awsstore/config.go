package awsstore

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pier-registry/pier/internal/awsenv"
	"github.com/pier-registry/pier/internal/metrics"
)

// Config is the configuration of the AWS backend. Region, credentials and
// endpoints come from the SDK's own settings (AWS_REGION,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, ...),
// which LoadAWS reads.
type Config struct {
	// LoadAWS loads the SDK's configuration; nil: awsenv.Load, from
	// environment variables alone, as in a Lambda function.
	LoadAWS func(context.Context) (aws.Config, error)
	// Bucket is the S3 bucket of blobs and uploads.
	Bucket string
	// TablePrefix is put before the DynamoDB table names.
	TablePrefix string
	// PresignTTL is how long a presigned blob URL is valid.
	PresignTTL time.Duration
	// CopyBudget is how long finishing an upload may spend copying it
	// into place before the copy goes on in the background.
	CopyBudget time.Duration
	// SignedUploadStates says that the registry keeps upload states
	// signed in their Locations (auth on), not in sessions: the parts of
	// chunked uploads then go straight into a multipart upload
	// (BlobsOptions.PartsInMultipart).
	SignedUploadStates bool
	// NoBackgroundCopy: a copy that does not finish within CopyBudget does
	// not go on after Commit returns (on Lambda, where the environment is
	// frozen when the handler returns); the blob stays at its assembled
	// location until garbage collection copies it (Blobs.Settle).
	NoBackgroundCopy bool
	// Metrics receives the outcome of each copy of a large upload into
	// place; nil: none.
	Metrics metrics.Recorder
	// PartURLTTL is how long a presigned part URL of a direct upload is
	// valid.
	PartURLTTL time.Duration
	// CreateResources creates the bucket and the tables when missing (for
	// local servers and LocalStack; in AWS the template creates them).
	CreateResources bool
	// PathStyle addresses S3 as <endpoint>/<bucket>/<key>, which local S3
	// servers need. By default it is on when an S3 endpoint is set in the
	// environment.
	PathStyle *bool
}

// Clients are the SDK clients of the backend, built once (at a Lambda's
// cold start) and shared.
type Clients struct {
	S3       *s3.Client
	DynamoDB *dynamodb.Client
}

// NewClients loads the SDK's configuration (cfg.LoadAWS) and builds
// clients that count their requests (store.Requests).
func NewClients(ctx context.Context, cfg Config) (Clients, error) {
	awsCfg, err := loadAWS(ctx, cfg.LoadAWS)
	if err != nil {
		return Clients{}, err
	}
	localS3 := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	localDynamoDB := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	pathStyle := localS3
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}
	return Clients{
		S3: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			o.UsePathStyle = pathStyle
			// Ranged and presigned reads carry no whole-object checksum;
			// the SDK need not log that it skipped checking one.
			o.DisableLogOutputChecksumValidationSkipped = true
			o.APIOptions = append(o.APIOptions, countRequests("s3"))
		}),
		DynamoDB: dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
			o.APIOptions = append(o.APIOptions, countRequests("dynamodb"))
			// DynamoDB Local sends no X-Amz-Crc32 on error answers, which
			// the SDK would log for every failed condition
			// (aws/aws-sdk-go-v2#3545); DynamoDB itself does send it.
			o.DisableValidateResponseChecksum = localDynamoDB
		}),
	}, nil
}

// loadAWS loads the SDK's configuration with load, or awsenv.Load when
// load is nil.
func loadAWS(ctx context.Context, load func(context.Context) (aws.Config, error)) (aws.Config, error) {
	if load == nil {
		load = awsenv.Load
	}
	awsCfg, err := load(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return awsCfg, nil
}
