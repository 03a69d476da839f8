// Package config holds Pier's settings: each has an environment variable
// (what the Lambda functions read) and, for `pier serve`, a flag of the
// same meaning. Flags override the environment, which overrides the
// documented defaults.
package config

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Config is the configuration of a Pier server.
type Config struct {
	// Addr is the address `pier serve` listens on (PIER_ADDR).
	Addr string
	// DataDir is where the local backend keeps blobs and metadata
	// (PIER_DATA_DIR).
	DataDir string
	// Backend is the storage backend: "local" or "aws" (PIER_BACKEND).
	Backend string
	// Bucket is the S3 bucket of the aws backend (PIER_BUCKET).
	Bucket string
	// TablePrefix is put before the DynamoDB table names of the aws
	// backend (PIER_TABLE_PREFIX).
	TablePrefix string
	// PresignTTL is how long presigned blob URLs are valid
	// (PIER_PRESIGN_TTL).
	PresignTTL time.Duration
	// CopyBudget is how long finishing a direct upload may spend reading
	// its bytes back, hashing them and copying them into place, before the
	// work goes on in the background (PIER_COPY_BUDGET). A chunked upload
	// is assembled in place: it has nothing to copy.
	CopyBudget time.Duration
	// PartURLTTL is how long the presigned part URLs of direct uploads
	// are valid, at most until the upload session expires
	// (PIER_PART_URL_TTL).
	PartURLTTL time.Duration
	// CreateResources creates a missing bucket and table
	// (PIER_CREATE_RESOURCES).
	CreateResources bool
	// AllowSparse accepts image manifests whose blobs are missing
	// (PIER_ALLOW_SPARSE).
	AllowSparse bool
	// LogLevel is the lowest level logged: debug, info, warn, error
	// (PIER_LOG_LEVEL).
	LogLevel string
	// Auth is "token" (logins and per-repository grants, the default) or
	// "none" (an open registry) (PIER_AUTH).
	Auth string
	// Public lists repository-name patterns anyone may pull, comma
	// separated (PIER_PUBLIC).
	Public string
	// AuthKeyFile is the file of the token signing key: made when missing
	// (PIER_AUTH_KEY_FILE; default <data>/auth.key on the local backend).
	AuthKeyFile string
	// AuthSecret is the AWS Secrets Manager secret that holds the token
	// signing key, read once at start (PIER_AUTH_SECRET).
	AuthSecret string
	// TokenTTL is how long the access tokens issued by the token endpoint
	// are valid (PIER_TOKEN_TTL).
	TokenTTL time.Duration
	// ChunkMinLength is the OCI-Chunk-Min-Length advertised to clients
	// (PIER_CHUNK_MIN_LENGTH); 0 advertises none.
	ChunkMinLength int64
	// ChunkMaxLength is the largest request body an upload takes
	// (PIER_CHUNK_MAX_LENGTH), advertised as OCI-Chunk-Max-Length; 0 is
	// no limit.
	ChunkMaxLength int64
	// BlobLinkCacheTTL is how long the process answers a blob link it has
	// written or read from its cache (PIER_BLOB_LINK_CACHE_TTL); 0, the
	// default, turns the cache off. A link removed through another process
	// is still answered by this one for up to this long, which the
	// distribution spec does not allow (a deleted blob is 404 at once):
	// the cache is for a registry that one process serves.
	BlobLinkCacheTTL time.Duration
	// Stack is a deployed Pier CloudFormation stack (template.yaml) whose
	// bucket, table and token signing key `pier serve` uses, read from
	// the stack's outputs at start (PIER_STACK; the aws backend only).
	Stack string
	// BlobLinkCacheEntries is the largest number of blob links the cache
	// keeps (PIER_BLOB_LINK_CACHE_ENTRIES); 0 turns the cache off.
	BlobLinkCacheEntries int64
	// GCGrace, GCLeftoverGrace, GCSettle and GCTombstone tune garbage
	// collection (PIER_GC_GRACE, PIER_GC_LEFTOVER_GRACE, PIER_GC_SETTLE,
	// PIER_GC_TOMBSTONE; see internal/gc.Options).
	GCGrace, GCLeftoverGrace, GCSettle, GCTombstone time.Duration
	// GCInterval, when positive, has `pier serve` collect garbage itself
	// that often (PIER_GC_INTERVAL): the local backend's way, since
	// `pier gc` cannot open its file while the server runs.
	GCInterval time.Duration
	// UploadURL is the base URL (scheme and host) of an upload endpoint:
	// a `pier serve --backend aws` with the same signing key, bucket and
	// table, to which the Locations of uploads point (PIER_UPLOAD_URL);
	// "": uploads continue where they started.
	UploadURL string
	// IdleTimeout is how long `pier serve` keeps a connection that has no
	// request under way (PIER_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// ReadTimeout is how long `pier serve` waits for the next bytes of a
	// request body (PIER_READ_TIMEOUT): a body may take any time as long
	// as its bytes keep coming.
	ReadTimeout time.Duration
	// MetricsAddr is the address on which `pier serve` answers Prometheus
	// scrapes at /metrics, apart from the registry's address
	// (PIER_METRICS_ADDR); "": no metrics endpoint.
	MetricsAddr string
	// MetricsNamespace is the CloudWatch namespace of the EMF metrics
	// (PIER_METRICS_NAMESPACE).
	MetricsNamespace string
	// EMF writes a CloudWatch Embedded Metric Format line per request,
	// upload copy and gc run to stdout (PIER_EMF; on by default in the
	// Lambda functions, where CloudWatch Logs turns them into metrics).
	EMF bool
	// LoadAWS loads the AWS SDK's configuration for the aws backend and
	// PIER_AUTH_SECRET. It is no setting: the program sets it. nil loads
	// it from environment variables alone, as Lambda gives them
	// (internal/awsenv), which is what Pier's Lambda functions use; `pier`
	// sets the SDK's full chain (config.LoadDefaultConfig: profiles, shared
	// files, SSO, ...), which would lengthen a function's cold start.
	LoadAWS func(context.Context) (aws.Config, error)
}

// setting describes one setting: its flag, its variable, its default.
type setting struct {
	flag, env, def, usage string
	str                   *string
	boolean               *bool
	integer               *int64
	duration              *time.Duration
}

func (c *Config) settings() []setting {
	return []setting{
		{flag: "addr", env: "PIER_ADDR", def: "127.0.0.1:5000", usage: "address to listen on", str: &c.Addr},
		{flag: "data", env: "PIER_DATA_DIR", def: "./data", usage: "directory of the local backend's blobs and metadata", str: &c.DataDir},
		{flag: "backend", env: "PIER_BACKEND", def: "local", usage: "storage backend: local (files and bbolt) or aws (S3 and DynamoDB)", str: &c.Backend},
		{flag: "bucket", env: "PIER_BUCKET", def: "", usage: "S3 bucket of the aws backend", str: &c.Bucket},
		{flag: "table-prefix", env: "PIER_TABLE_PREFIX", def: "pier-", usage: "prefix of the aws backend's DynamoDB table names", str: &c.TablePrefix},
		{flag: "presign-ttl", env: "PIER_PRESIGN_TTL", def: "5m", usage: "how long presigned blob URLs are valid", duration: &c.PresignTTL},
		{flag: "copy-budget", env: "PIER_COPY_BUDGET", def: "20s", usage: "how long finishing a direct upload may hash its bytes and copy them into place before the work goes on in the background", duration: &c.CopyBudget},
		{flag: "part-url-ttl", env: "PIER_PART_URL_TTL", def: "15m", usage: "how long the presigned S3 part URLs of direct uploads are valid", duration: &c.PartURLTTL},
		{flag: "create-resources", env: "PIER_CREATE_RESOURCES", def: "false", usage: "create a missing bucket and table (local servers, LocalStack)", boolean: &c.CreateResources},
		{flag: "allow-sparse", env: "PIER_ALLOW_SPARSE", def: "false", usage: "accept image manifests whose config or layers are not in the repository", boolean: &c.AllowSparse},
		{flag: "auth", env: "PIER_AUTH", def: "token", usage: "token (logins and per-repository grants) or none (an open registry)", str: &c.Auth},
		{flag: "public", env: "PIER_PUBLIC", def: "", usage: "repository-name patterns anyone may pull, comma separated (e.g. site/*,public/*)", str: &c.Public},
		{flag: "auth-key-file", env: "PIER_AUTH_KEY_FILE", def: "", usage: "file of the token signing key, made when missing (pier serve: <data>/auth.key unless --auth-secret is set)", str: &c.AuthKeyFile},
		{flag: "auth-secret", env: "PIER_AUTH_SECRET", def: "", usage: "AWS Secrets Manager secret holding the token signing key", str: &c.AuthSecret},
		{flag: "token-ttl", env: "PIER_TOKEN_TTL", def: "5m", usage: "how long issued access tokens are valid", duration: &c.TokenTTL},
		{flag: "log-level", env: "PIER_LOG_LEVEL", def: "info", usage: "lowest log level: debug, info, warn, error", str: &c.LogLevel},
		{flag: "chunk-min-length", env: "PIER_CHUNK_MIN_LENGTH", def: "1048576", usage: "OCI-Chunk-Min-Length advertised to clients, in bytes (0: none)", integer: &c.ChunkMinLength},
		{flag: "chunk-max-length", env: "PIER_CHUNK_MAX_LENGTH", def: "0", usage: "largest request body of an upload, in bytes, advertised as OCI-Chunk-Max-Length (0: no limit)", integer: &c.ChunkMaxLength},
		{flag: "stack", env: "PIER_STACK", def: "", usage: "CloudFormation stack of a deployed Pier whose bucket, table and token signing key to use, read from its outputs (with --backend aws; instead of --bucket and --table-prefix)", str: &c.Stack},
		{flag: "blob-link-cache-ttl", env: "PIER_BLOB_LINK_CACHE_TTL", def: "0s", usage: "how long a blob link this process wrote or read is answered from its cache (0: no cache, the default); a blob deleted through another process is served for up to this long, so turn it on only where one process serves the registry", duration: &c.BlobLinkCacheTTL},
		{flag: "upload-url", env: "PIER_UPLOAD_URL", def: "", usage: "base URL (https://host[:port]) of an upload endpoint (pier serve --backend aws with the same signing key, bucket and table) that upload Locations point to", str: &c.UploadURL},
		{flag: "blob-link-cache-entries", env: "PIER_BLOB_LINK_CACHE_ENTRIES", def: "10000", usage: "most blob links the cache keeps (0: no cache)", integer: &c.BlobLinkCacheEntries},
		{flag: "gc-grace", env: "PIER_GC_GRACE", def: "1h", usage: "garbage collection: a blob nothing references goes once it is this old", duration: &c.GCGrace},
		{flag: "gc-leftover-grace", env: "PIER_GC_LEFTOVER_GRACE", def: "1h", usage: "garbage collection: what an upload left goes once it is this old (more than any request lasts)", duration: &c.GCLeftoverGrace},
		{flag: "gc-settle", env: "PIER_GC_SETTLE", def: "15m", usage: "garbage collection: a marked blob is deleted by a run this long after the mark (more than any request lasts, and than the blob link cache TTL)", duration: &c.GCSettle},
		{flag: "gc-interval", env: "PIER_GC_INTERVAL", def: "0s", usage: "pier serve collects garbage itself this often (e.g. 24h; 0: never, as on AWS, where the gc function is scheduled)", duration: &c.GCInterval},
		{flag: "gc-tombstone", env: "PIER_GC_TOMBSTONE", def: "24h", usage: "garbage collection: how long the mark of a deleted blob is kept (more than any request lasts)", duration: &c.GCTombstone},
		{flag: "idle-timeout", env: "PIER_IDLE_TIMEOUT", def: "2m", usage: "how long a connection with no request under way is kept open", duration: &c.IdleTimeout},
		{flag: "metrics-addr", env: "PIER_METRICS_ADDR", def: "", usage: "address of the Prometheus /metrics endpoint of pier serve, apart from the registry's (e.g. 127.0.0.1:9090; \"\": none)", str: &c.MetricsAddr},
		{flag: "metrics-namespace", env: "PIER_METRICS_NAMESPACE", def: "Pier", usage: "CloudWatch namespace of the EMF metrics", str: &c.MetricsNamespace},
		{flag: "emf", env: "PIER_EMF", def: "false", usage: "write a CloudWatch Embedded Metric Format line per request, upload copy and gc run to stdout (the Lambda functions: on unless set)", boolean: &c.EMF},
		{flag: "read-timeout", env: "PIER_READ_TIMEOUT", def: "1m", usage: "how long to wait for the next bytes of a request body (a large upload may take any time while its bytes keep coming)", duration: &c.ReadTimeout},
	}
}

// EnvVars returns every environment variable that FromEnv reads, each
// with its default value (the template tests check that the Lambda
// functions set them).
func EnvVars() map[string]string {
	var c Config
	vars := map[string]string{}
	for _, s := range c.settings() {
		vars[s.env] = s.def
	}
	return vars
}

// FromEnv returns the configuration that the environment (getenv) and the
// defaults give.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range c.settings() {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		if err := s.set(v); err != nil {
			return Config{}, fmt.Errorf("%s: %w", s.env, err)
		}
	}
	return c, c.Validate()
}

// FromLambdaEnv is FromEnv with the defaults of Pier's Lambda functions:
// the aws backend, a CloudWatch EMF line on stdout (PIER_EMF), and those
// of defaults (variable: value). A variable that is set, to any value,
// wins.
func FromLambdaEnv(getenv func(string) string, defaults map[string]string) (Config, error) {
	return FromEnv(func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		if v, ok := defaults[key]; ok {
			return v
		}
		switch key {
		case "PIER_BACKEND":
			return "aws"
		case "PIER_EMF":
			return "true"
		}
		return ""
	})
}

// Parse reads the configuration from the environment, then from the flags
// args (as parsed by fs, which gets one flag per setting).
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c, err := FromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	for _, s := range c.settings() {
		s := s
		usage := fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def)
		// The usage says the default: the flag package would say it
		// again, unless it takes it for the zero value (zero).
		var zero string
		switch {
		case s.boolean != nil:
			fs.BoolVar(s.boolean, s.flag, *s.boolean, usage)
			zero = "false"
		case s.integer != nil:
			fs.Int64Var(s.integer, s.flag, *s.integer, usage)
			zero = "0"
		case s.duration != nil:
			fs.DurationVar(s.duration, s.flag, *s.duration, usage)
			zero = "0s"
		default:
			fs.StringVar(s.str, s.flag, *s.str, usage)
		}
		fs.Lookup(s.flag).DefValue = zero
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

func (s setting) set(v string) error {
	switch {
	case s.boolean != nil:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*s.boolean = b
	case s.integer != nil:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*s.integer = n
	case s.duration != nil:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 5m, 20s)", v)
		}
		*s.duration = d
	default:
		*s.str = v
	}
	return nil
}

// Validate checks the values of c.
func (c Config) Validate() error {
	switch c.Backend {
	case "local":
	case "aws":
		if c.Bucket == "" && c.Stack == "" {
			return fmt.Errorf("the aws backend needs a bucket: --bucket or PIER_BUCKET, or a deployed stack: --stack or PIER_STACK")
		}
		if c.Bucket != "" && c.Stack != "" {
			return fmt.Errorf("both a bucket (%s) and a stack (%s): the stack's outputs name its bucket, give one or the other", c.Bucket, c.Stack)
		}
	default:
		return fmt.Errorf("unknown backend %q (want local or aws)", c.Backend)
	}
	if c.Stack != "" && c.Backend != "aws" {
		return fmt.Errorf("stack %s: a deployed stack's storage is S3 and DynamoDB: --stack needs --backend aws", c.Stack)
	}
	if c.PresignTTL <= 0 || c.PresignTTL > 7*24*time.Hour {
		return fmt.Errorf("presign TTL %s: want more than 0 and at most 7 days (S3's limit)", c.PresignTTL)
	}
	if c.PartURLTTL <= 0 || c.PartURLTTL > 7*24*time.Hour {
		return fmt.Errorf("part URL TTL %s: want more than 0 and at most 7 days (S3's limit)", c.PartURLTTL)
	}
	switch c.Auth {
	case "token":
		if c.TokenTTL <= 0 || c.TokenTTL > 24*time.Hour {
			return fmt.Errorf("token TTL %s: want more than 0 and at most 24h", c.TokenTTL)
		}
	case "none":
	default:
		return fmt.Errorf("auth %q: want token or none", c.Auth)
	}
	if c.CopyBudget < 0 {
		return fmt.Errorf("copy budget %s is negative", c.CopyBudget)
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	for _, d := range []time.Duration{c.GCGrace, c.GCLeftoverGrace, c.GCSettle, c.GCTombstone} {
		if d <= 0 {
			return fmt.Errorf("garbage collection duration %s: want more than 0", d)
		}
	}
	if c.GCInterval < 0 {
		return fmt.Errorf("gc interval %s: want 0 (never) or more", c.GCInterval)
	}
	if c.BlobLinkCacheTTL < 0 || c.BlobLinkCacheEntries < 0 {
		return fmt.Errorf("blob link cache TTL %s and entries %d: want 0 (no cache) or more", c.BlobLinkCacheTTL, c.BlobLinkCacheEntries)
	}
	if c.UploadURL != "" {
		u, err := url.Parse(c.UploadURL)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("upload URL %q: want http(s)://host[:port]", c.UploadURL)
		}
	}
	if c.IdleTimeout <= 0 || c.ReadTimeout <= 0 {
		return fmt.Errorf("idle timeout %s and read timeout %s: want more than 0", c.IdleTimeout, c.ReadTimeout)
	}
	if c.ChunkMinLength < 0 || c.ChunkMaxLength < 0 {
		return fmt.Errorf("chunk lengths must not be negative")
	}
	if c.ChunkMaxLength > 0 && c.ChunkMinLength > c.ChunkMaxLength {
		return fmt.Errorf("chunk min length %d is above the max length %d", c.ChunkMinLength, c.ChunkMaxLength)
	}
	return nil
}

// Level returns LogLevel as a slog.Level.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(c.LogLevel))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// Logger returns a logger of JSON lines to w at the level of LogLevel
// (info when that is not a level: Validate refuses it).
func (c Config) Logger(w io.Writer) *slog.Logger {
	level, _ := c.Level()
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Getenv is os.Getenv, for FromEnv and Parse.
var Getenv = os.Getenv

// PublicPatterns returns the patterns of Public.
func (c Config) PublicPatterns() []string {
	var out []string
	for _, p := range strings.Split(c.Public, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
