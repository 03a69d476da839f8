package template

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/s3"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"github.com/pier-registry/pier/internal/store/awsstore"
)

// defaultTablePrefix is the table prefix when TablePrefix is empty: the
// stack name and the stack's UUID (the third "/"-separated part of
// AWS::StackId).
const defaultTablePrefix = "${AWS::StackName}-${AWS::StackId/2}-"

// Logical ids of the template's resources.
const (
	apiFunction = "ApiFunction"
	gcFunction  = "GcFunction"
)

func TestResources(t *testing.T) {
	tpl := load(t, nil)
	tests := []struct {
		name, typ, condition string
	}{
		{"ApiFunction", "AWS::Serverless::Function", ""},
		{"ApiFunctionLogGroup", "AWS::Logs::LogGroup", ""},
		{"GcFunction", "AWS::Serverless::Function", ""},
		{"GcFunctionLogGroup", "AWS::Logs::LogGroup", ""},
		{"HttpApi", "AWS::Serverless::HttpApi", "IsHttpApi"},
		{"HttpApiInvokePermission", "AWS::Lambda::Permission", "IsHttpApi"},
		{"RestApi", "AWS::Serverless::Api", "IsRestApi"},
		{"RestApiInvokePermission", "AWS::Lambda::Permission", "IsRestApi"},
		{"ApiFunctionUrl", "AWS::Lambda::Url", "HasFunctionUrl"},
		{"ApiFunctionUrlPermission", "AWS::Lambda::Permission", "HasFunctionUrl"},
		{"ApiFunctionUrlInvokePermission", "AWS::Lambda::Permission", "HasFunctionUrl"},
		{"CdnCachePolicy", "AWS::CloudFront::CachePolicy", "HasCdn"},
		{"Cdn", "AWS::CloudFront::Distribution", "HasCdn"},
		{"Bucket", "AWS::S3::Bucket", ""},
		{"BucketPolicy", "AWS::S3::BucketPolicy", ""},
		{"Table", "AWS::DynamoDB::Table", ""},
		{"TokenSigningKey", "AWS::SecretsManager::Secret", ""},
		{"Dashboard", "AWS::CloudWatch::Dashboard", ""},
		{"AlarmTopic", "AWS::SNS::Topic", "HasAlarmEmail"},
		{"ServerErrorAlarm", "AWS::CloudWatch::Alarm", ""},
		{"ThrottleAlarm", "AWS::CloudWatch::Alarm", ""},
		{"LambdaErrorAlarm", "AWS::CloudWatch::Alarm", ""},
		{"DurationAlarm", "AWS::CloudWatch::Alarm", ""},
		{"GcFailureAlarm", "AWS::CloudWatch::Alarm", ""},
	}
	want := map[string]bool{}
	for _, tt := range tests {
		want[tt.name] = true
		r, ok := tpl.Resources[tt.name]
		if !ok {
			t.Errorf("no resource %s", tt.name)
			continue
		}
		if got := r.AWSCloudFormationType(); got != tt.typ {
			t.Errorf("%s is a %s, want %s", tt.name, got, tt.typ)
		}
		if got := condition(r); got != tt.condition {
			t.Errorf("%s has condition %q, want %q", tt.name, got, tt.condition)
		}
	}
	// Anything else (a role, a policy, another API) must be added here on
	// purpose.
	for name, r := range tpl.Resources {
		if !want[name] {
			t.Errorf("unexpected resource %s (%s)", name, r.AWSCloudFormationType())
		}
	}
	if tpl.Transform == nil || tpl.Transform.String == nil || *tpl.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform is not AWS::Serverless-2016-10-31")
	}
}

// condition returns the CloudFormation condition of resource r.
func condition(r cloudformation.Resource) string {
	v := reflect.ValueOf(r)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	f := v.FieldByName("AWSCloudFormationCondition")
	if !f.IsValid() {
		return ""
	}
	return f.String()
}

func function(t *testing.T, tpl *cloudformation.Template, name string) *serverless.Function {
	t.Helper()
	fn, err := tpl.GetServerlessFunctionWithName(name)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		name    string
		timeout int
		// events: the event sources, by name, and their types.
		events map[string]string
	}{
		// An HTTP API waits 30 s, a REST API 29 s.
		{apiFunction, 29, nil},
		{gcFunction, 900, map[string]string{"Schedule": "Schedule"}},
	}
	tpl := load(t, nil)
	x86 := load(t, map[string]any{"Architecture": "x86_64", "MemorySize": 1024})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := function(t, tpl, tt.name)
			if got := deref(fn.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime %q, want provided.al2023", got)
			}
			if got := deref(fn.Handler); got != "bootstrap" {
				t.Errorf("Handler %q, want bootstrap", got)
			}
			if fn.CodeUri == nil || deref(fn.CodeUri.String) != "." {
				t.Errorf("CodeUri is not .")
			}
			if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod %v, want makefile (sam build runs make build-%s)", got, tt.name)
			}
			if got := derefInt(fn.Timeout); got != tt.timeout {
				t.Errorf("Timeout %d, want %d", got, tt.timeout)
			}
			// Architecture and memory follow the parameters.
			if !slices.Equal(fn.Architectures, []string{"arm64"}) || derefInt(fn.MemorySize) != 512 {
				t.Errorf("Architectures %v, MemorySize %d; want [arm64], 512 (the defaults)", fn.Architectures, derefInt(fn.MemorySize))
			}
			fx := function(t, x86, tt.name)
			if !slices.Equal(fx.Architectures, []string{"x86_64"}) || derefInt(fx.MemorySize) != 1024 {
				t.Errorf("with Architecture=x86_64 MemorySize=1024: Architectures %v, MemorySize %d", fx.Architectures, derefInt(fx.MemorySize))
			}
			got := map[string]string{}
			for name, ev := range fn.Events {
				got[name] = ev.Type
			}
			if len(got) != len(tt.events) || (len(got) > 0 && !reflect.DeepEqual(got, tt.events)) {
				t.Errorf("Events %v, want %v", got, tt.events)
			}
			if fn.Role != nil {
				t.Errorf("Role is set: SAM should make the role from Policies")
			}
			lg, err := tpl.GetLogsLogGroupWithName(tt.name + "LogGroup")
			if err != nil {
				t.Fatal(err)
			}
			checkLogGroup(t, lg, tt.name)
		})
	}
}

func checkLogGroup(t *testing.T, lg *logs.LogGroup, fn string) {
	t.Helper()
	if got, want := deref(lg.LogGroupName), "/aws/lambda/${"+fn+"}"; got != want {
		t.Errorf("log group name %q, want %q (the one Lambda writes to)", got, want)
	}
	if derefInt(lg.RetentionInDays) != 30 {
		t.Errorf("log retention %d days, want the default 30", derefInt(lg.RetentionInDays))
	}
}

func TestGcSchedule(t *testing.T) {
	for _, tt := range []struct {
		overrides map[string]any
		want      string
	}{
		{nil, "rate(1 day)"},
		{map[string]any{"GcSchedule": "rate(6 hours)"}, "rate(6 hours)"},
	} {
		fn := function(t, load(t, tt.overrides), gcFunction)
		ev, ok := fn.Events["Schedule"]
		if !ok || ev.Type != "Schedule" || ev.Properties == nil || ev.Properties.ScheduleEvent == nil {
			t.Fatalf("GcFunction has no Schedule event")
		}
		s := ev.Properties.ScheduleEvent
		if s.Schedule != tt.want || s.Enabled == nil || !*s.Enabled {
			t.Errorf("schedule %q (enabled %v), want %q, enabled", s.Schedule, s.Enabled, tt.want)
		}
	}
}

// grants is what a function's policies allow: for each resource, the
// sorted actions.
type grants map[string][]string

var (
	s3Objects = "${Bucket.Arn}/*"
	s3Bucket  = "${Bucket.Arn}"
	table     = "${Table.Arn}"
	// signingKey is the ARN of the secret (a Ref to a secret is its ARN).
	signingKey = "${TokenSigningKey}"
)

// wantGrants is exactly what each function may do: the actions that the
// code calls, on the bucket and the table only. A broader grant (another
// action, a wildcard, another resource) fails TestPolicies.
// ApiFunction also reads the token signing key, once per cold start.
var wantGrants = map[string]grants{
	// internal/store/awsstore, call by call:
	//   s3:GetObject      GetObject, HeadObject, the presigned GETs (signed
	//                     with the function's credentials), the source of
	//                     CopyObject and UploadPartCopy
	//   s3:PutObject      PutObject (If-None-Match too),
	//                     CreateMultipartUpload, UploadPart,
	//                     CompleteMultipartUpload, the target of CopyObject
	//                     and UploadPartCopy
	//   s3:DeleteObject   DeleteObject, DeleteObjects
	//   s3:AbortMultipartUpload
	//   s3:ListMultipartUploadParts  ListParts (Blobs.uploadLost: was a
	//                     failed part or completion lost to a concurrent one?)
	//   s3:ListBucket     ListObjectsV2 (Abort's listing of staged chunks);
	//                     also makes S3 answer 404, not 403, for a missing
	//                     key, which Stat and Open rely on
	//   dynamodb:         GetItem, PutItem, DeleteItem, Query, BatchGetItem,
	//                     BatchWriteItem as called; TransactWriteItems is
	//                     authorized item by item: Put (PutItem), Update
	//                     (UpdateItem), Delete (DeleteItem), ConditionCheck
	//                     (ConditionCheckItem).
	// Not granted: CreateBucket, HeadBucket, CreateTable, DescribeTable,
	// DescribeTimeToLive, UpdateTimeToLive, DeleteTable (only with
	// PIER_CREATE_RESOURCES, for local servers: the template makes them).
	// awsstore.ReadSecret: secretsmanager:GetSecretValue on the signing
	// key's secret alone (the secret is encrypted with the AWS managed key
	// aws/secretsmanager, which needs no kms:Decrypt grant of its own).
	apiFunction: {
		s3Objects: {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"},
		s3Bucket:  {"s3:ListBucket"},
		table: {
			"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
			"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
			"dynamodb:UpdateItem",
		},
		signingKey: {"secretsmanager:GetSecretValue"},
	},
	// Garbage collection: list and delete blobs and staged chunks, copy
	// finished uploads into place (GetObject + PutObject), abort stale
	// multipart uploads (listing them first); scan the records, delete the
	// dead ones, write the marks (internal/gc). Never the signing key.
	gcFunction: {
		s3Objects: {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
		s3Bucket:  {"s3:ListBucket", "s3:ListBucketMultipartUploads"},
		table: {
			"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
			"dynamodb:Query", "dynamodb:Scan",
		},
	},
}

func TestPolicies(t *testing.T) {
	tpl := load(t, nil)
	for _, name := range []string{apiFunction, gcFunction} {
		t.Run(name, func(t *testing.T) {
			fn := function(t, tpl, name)
			got := policyGrants(t, fn)
			want := wantGrants[name]
			if !reflect.DeepEqual(got, want) {
				t.Errorf("grants differ\n got: %v\nwant: %v", got, want)
			}
		})
	}
}

// policyGrants collects the statements of fn's Policies, which must be
// inline policy documents only (no managed policy, no SAM policy
// template: their grants are not checked here) of Allow statements.
func policyGrants(t *testing.T, fn *serverless.Function) grants {
	t.Helper()
	p := fn.Policies
	if p == nil || p.IAMPolicyDocumentArray == nil {
		t.Fatalf("Policies is not a list of policy documents")
	}
	if p.String != nil {
		t.Fatalf("Policies names a managed policy: %s", *p.String)
	}
	if p.StringArray != nil {
		for _, s := range *p.StringArray {
			if s != "" {
				t.Fatalf("Policies names a managed policy: %s", s)
			}
		}
	}
	g := grants{}
	for _, doc := range *p.IAMPolicyDocumentArray {
		if len(doc.Statement) == 0 {
			t.Errorf("Policies holds an entry with no Statement (a managed policy or a SAM policy template?)")
		}
		addGrants(t, g, doc.Statement)
	}
	return g
}

// addGrants adds the grants of statements, which must be Allow
// statements of actions on resources, to g (each resource's actions
// sorted).
func addGrants(t *testing.T, g grants, statements []any) {
	t.Helper()
	for _, raw := range statements {
		st, ok := raw.(map[string]any)
		if !ok {
			t.Fatalf("statement %v is not an object", raw)
		}
		for k := range st {
			switch k {
			case "Sid", "Effect", "Action", "Resource":
			default: // NotAction, NotResource, Condition, Principal
				t.Errorf("statement %v has %s: not expected in a function's grants", st["Sid"], k)
			}
		}
		if st["Effect"] != "Allow" {
			t.Errorf("statement %v: Effect %v", st["Sid"], st["Effect"])
		}
		for _, r := range stringList(st["Resource"]) {
			for _, a := range stringList(st["Action"]) {
				if strings.Contains(a, "*") {
					t.Errorf("wildcard action %s", a)
				}
				g[r] = append(g[r], a)
			}
		}
	}
	for r := range g {
		sort.Strings(g[r])
		g[r] = slices.Compact(g[r])
	}
}

// stringList returns v, a string or a list of strings, as a list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestSigningKeySecret checks the secret that holds the token signing key:
// made by Secrets Manager, long enough, with no characters that a reader
// would have to escape, and given to ApiFunction (its name in
// PIER_AUTH_SECRET, GetSecretValue on it alone: TestPolicies).
func TestSigningKeySecret(t *testing.T) {
	tpl := load(t, nil)
	sec, err := tpl.GetSecretsManagerSecretWithName("TokenSigningKey")
	if err != nil {
		t.Fatal(err)
	}
	if sec.SecretString != nil {
		t.Errorf("SecretString is set: the key would be in the template; let Secrets Manager make it")
	}
	if sec.KmsKeyId != nil {
		t.Errorf("KmsKeyId is set: a key of our own needs a kms:Decrypt grant, which the function has not")
	}
	g := sec.GenerateSecretString
	if g == nil {
		t.Fatal("no GenerateSecretString")
	}
	// 64 letters and digits: about 380 bits. awsstore.ReadSecret takes
	// them as base64 (64 characters: 48 bytes) or, if they were not, as
	// the string itself (64 bytes): at least MinSecretLength either way.
	if n := derefInt(g.PasswordLength); n != 64 || n*6/8 < awsstore.MinSecretLength {
		t.Errorf("PasswordLength %d, want 64", n)
	}
	if !isTrue(g.ExcludePunctuation) || deref(g.IncludeSpace) {
		t.Errorf("ExcludePunctuation %v, IncludeSpace %v: want letters and digits only", deref(g.ExcludePunctuation), deref(g.IncludeSpace))
	}
	if isTrue(g.ExcludeLowercase) || isTrue(g.ExcludeUppercase) || isTrue(g.ExcludeNumbers) || g.ExcludeCharacters != nil {
		t.Errorf("letters or digits are excluded: fewer bits of key per character")
	}
	if g.SecretStringTemplate != nil || g.GenerateStringKey != nil {
		t.Errorf("the secret is a JSON document: ReadSecret wants the key alone")
	}
	for _, name := range []string{apiFunction, gcFunction} {
		env := function(t, tpl, name).Environment.Variables
		got, set := env["PIER_AUTH_SECRET"]
		switch {
		case name == apiFunction && got != signingKey:
			t.Errorf("%s: PIER_AUTH_SECRET %q, want %q", name, got, signingKey)
		case name == gcFunction && set:
			t.Errorf("%s has PIER_AUTH_SECRET: it may not read the key", name)
		}
	}
}

// uploadTTL is internal/registry's default UploadTTL: the longest life of
// an upload session.
const uploadTTL = 24 * time.Hour

func TestBucket(t *testing.T) {
	tpl := load(t, nil)
	b, err := tpl.GetS3BucketWithName("Bucket")
	if err != nil {
		t.Fatal(err)
	}
	if b.AWSCloudFormationDeletionPolicy != "Retain" || b.AWSCloudFormationUpdateReplacePolicy != "Retain" {
		t.Errorf("the bucket is not retained (DeletionPolicy %q, UpdateReplacePolicy %q)",
			b.AWSCloudFormationDeletionPolicy, b.AWSCloudFormationUpdateReplacePolicy)
	}
	if b.BucketName != nil {
		t.Errorf("BucketName is set: CloudFormation should name the bucket (names are global)")
	}

	t.Run("encryption", func(t *testing.T) {
		if b.BucketEncryption == nil || len(b.BucketEncryption.ServerSideEncryptionConfiguration) != 1 {
			t.Fatal("no single server-side encryption rule")
		}
		def := b.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
		if def == nil || def.SSEAlgorithm != "AES256" {
			t.Errorf("default encryption is not SSE-S3 (AES256): %+v", def)
		}
	})

	t.Run("public access", func(t *testing.T) {
		p := b.PublicAccessBlockConfiguration
		if p == nil || !isTrue(p.BlockPublicAcls) || !isTrue(p.BlockPublicPolicy) || !isTrue(p.IgnorePublicAcls) || !isTrue(p.RestrictPublicBuckets) {
			t.Errorf("public access is not blocked in all four ways: %+v", p)
		}
		o := b.OwnershipControls
		if o == nil || len(o.Rules) != 1 || deref(o.Rules[0].ObjectOwnership) != "BucketOwnerEnforced" {
			t.Errorf("object ownership is not BucketOwnerEnforced (ACLs off)")
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		if b.LifecycleConfiguration == nil {
			t.Fatal("no lifecycle rules")
		}
		rules := map[string]s3.Bucket_Rule{}
		for _, r := range b.LifecycleConfiguration.Rules {
			if r.Status != "Enabled" {
				t.Errorf("rule %s is %s", deref(r.Id), r.Status)
			}
			rules[deref(r.Id)] = r
		}
		abort, ok := rules["abort-incomplete-multipart-uploads"]
		if !ok || abort.AbortIncompleteMultipartUpload == nil || abort.Prefix != nil {
			t.Fatalf("no bucket-wide rule aborting incomplete multipart uploads")
		}
		if days := abort.AbortIncompleteMultipartUpload.DaysAfterInitiation; time.Duration(days)*24*time.Hour <= uploadTTL {
			t.Errorf("multipart uploads are aborted after %d days: not above the upload session's life, %s", days, uploadTTL)
		}
		staging, ok := rules["expire-upload-staging"]
		if !ok || deref(staging.Prefix) != "uploads/" || staging.ExpirationInDays == nil {
			t.Fatalf("no rule expiring uploads/")
		}
		if days := *staging.ExpirationInDays; time.Duration(days)*24*time.Hour <= uploadTTL {
			t.Errorf("staged chunks expire after %d days: not above the upload session's life, %s", days, uploadTTL)
		}
		// Nothing else expires: blobs/ is content, assembled/<id> may be
		// what a blob record points at.
		for id, r := range rules {
			if id != "expire-upload-staging" && (r.ExpirationInDays != nil || r.ExpirationDate != nil) {
				t.Errorf("rule %s expires objects outside uploads/", id)
			}
		}
		if len(rules) != 2 {
			t.Errorf("%d lifecycle rules, want 2", len(rules))
		}
	})

	t.Run("TLS only", func(t *testing.T) {
		bp, err := tpl.GetS3BucketPolicyWithName("BucketPolicy")
		if err != nil {
			t.Fatal(err)
		}
		if bp.Bucket != "${Bucket}" {
			t.Errorf("the bucket policy is on %q", bp.Bucket)
		}
		doc, _ := bp.PolicyDocument.(map[string]any)
		stmts, _ := doc["Statement"].([]any)
		if len(stmts) != 1 {
			t.Fatalf("bucket policy has %d statements, want 1", len(stmts))
		}
		st, _ := stmts[0].(map[string]any)
		cond, _ := st["Condition"].(map[string]any)
		boolCond, _ := cond["Bool"].(map[string]any)
		if st["Effect"] != "Deny" || st["Principal"] != "*" || st["Action"] != "s3:*" ||
			!slices.Equal(stringList(st["Resource"]), []string{s3Bucket, s3Objects}) ||
			boolCond["aws:SecureTransport"] != "false" {
			t.Errorf("the bucket policy does not deny every request without TLS: %v", st)
		}
	})
}

func TestTable(t *testing.T) {
	for _, tt := range []struct {
		overrides  map[string]any
		wantPrefix string
	}{
		// The table is retained: a default name of the stack name alone
		// would be taken when a stack of the same name is created again.
		// The stack's UUID (the third part of its ARN) makes it new.
		{nil, defaultTablePrefix},
		{map[string]any{"TablePrefix": "acme-"}, "acme-"},
	} {
		tpl := load(t, tt.overrides)
		tbl, err := tpl.GetDynamoDBTableWithName("Table")
		if err != nil {
			t.Fatal(err)
		}
		// The functions find the table by its prefix, as the code names it.
		env := function(t, tpl, apiFunction).Environment.Variables
		if env["PIER_TABLE_PREFIX"] != tt.wantPrefix {
			t.Errorf("PIER_TABLE_PREFIX %q, want %q", env["PIER_TABLE_PREFIX"], tt.wantPrefix)
		}
		if got, want := deref(tbl.TableName), awsstore.TableName(tt.wantPrefix); got != want {
			t.Errorf("TableName %q, want %q (awsstore.TableName of PIER_TABLE_PREFIX)", got, want)
		}
		checkTable(t, tbl)
	}
}

func checkTable(t *testing.T, tbl *dynamodb.Table) {
	t.Helper()
	if deref(tbl.BillingMode) != "PAY_PER_REQUEST" || tbl.ProvisionedThroughput != nil {
		t.Errorf("BillingMode %q, want PAY_PER_REQUEST", deref(tbl.BillingMode))
	}
	// The keys of internal/store/awsstore/metadata.go: pk and sk, strings.
	attrs := map[string]string{}
	for _, a := range tbl.AttributeDefinitions {
		attrs[a.AttributeName] = a.AttributeType
	}
	if !reflect.DeepEqual(attrs, map[string]string{"pk": "S", "sk": "S"}) {
		t.Errorf("attribute definitions %v, want pk and sk, both S", attrs)
	}
	keys := map[string]string{}
	for _, k := range tbl.KeySchema {
		keys[k.AttributeName] = k.KeyType
	}
	if !reflect.DeepEqual(keys, map[string]string{"pk": "HASH", "sk": "RANGE"}) {
		t.Errorf("keys %v, want pk HASH, sk RANGE", keys)
	}
	if len(tbl.GlobalSecondaryIndexes)+len(tbl.LocalSecondaryIndexes) != 0 || tbl.StreamSpecification != nil {
		t.Errorf("the table has an index or a stream: the grants cover the table alone")
	}
	if ttl := tbl.TimeToLiveSpecification; ttl == nil || !ttl.Enabled || deref(ttl.AttributeName) != "expires" {
		t.Errorf("TTL is not on the attribute expires")
	}
	if p := tbl.PointInTimeRecoverySpecification; p == nil || !isTrue(p.PointInTimeRecoveryEnabled) {
		t.Errorf("point-in-time recovery is off")
	}
	if s := tbl.SSESpecification; s == nil || !s.SSEEnabled {
		t.Errorf("SSE is off")
	}
	if tbl.AWSCloudFormationDeletionPolicy != "Retain" || tbl.AWSCloudFormationUpdateReplacePolicy != "Retain" {
		t.Errorf("the table is not retained")
	}
}

// apiIntegrationURI is the Lambda proxy integration of ApiFunction.
const apiIntegrationURI = "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ApiFunction.Arn}/invocations"

func TestAPIs(t *testing.T) {
	tpl := load(t, nil)

	t.Run("conditions", func(t *testing.T) {
		for _, tt := range []struct {
			apiType                       string
			isHTTP, isREST, isURL, hasURL bool
		}{
			{"http", true, false, false, false},
			// The REST API's gate names the token endpoint on the URL.
			{"rest", false, true, false, true},
			{"url", false, false, true, true},
		} {
			c := load(t, map[string]any{"ApiType": tt.apiType}).Conditions
			if c["IsHttpApi"] != tt.isHTTP || c["IsRestApi"] != tt.isREST || c["IsFunctionUrl"] != tt.isURL || c["HasFunctionUrl"] != tt.hasURL {
				t.Errorf("ApiType=%s: IsHttpApi %v, IsRestApi %v, IsFunctionUrl %v, HasFunctionUrl %v",
					tt.apiType, c["IsHttpApi"], c["IsRestApi"], c["IsFunctionUrl"], c["HasFunctionUrl"])
			}
		}
		p := tpl.Parameters["ApiType"]
		if p.Default != "http" || !reflect.DeepEqual(p.AllowedValues, []any{"http", "rest", "url"}) {
			t.Errorf("ApiType: default %v, allowed %v; want http of [http rest url]", p.Default, p.AllowedValues)
		}
	})

	t.Run("http", func(t *testing.T) {
		api, err := tpl.GetServerlessHttpApiWithName("HttpApi")
		if err != nil {
			t.Fatal(err)
		}
		if api.StageName != nil {
			t.Errorf("StageName %q: the $default stage keeps /v2 at the root of the host", *api.StageName)
		}
		checkRoutes(t, api.DefinitionBody, "2.0", "$default")
		checkPermission(t, tpl, "HttpApiInvokePermission", "HttpApi")
	})

	t.Run("rest", func(t *testing.T) {
		api, err := tpl.GetServerlessApiWithName("RestApi")
		if err != nil {
			t.Fatal(err)
		}
		if api.StageName != "v2" {
			t.Errorf("StageName %q, want v2 (with resources at its root, the registry's /v2 at the root of the host)", api.StageName)
		}
		if api.EndpointConfiguration == nil || deref(api.EndpointConfiguration.Type) != "REGIONAL" {
			t.Errorf("the REST API is not regional")
		}
		// SAM writes "/" as "~1": every media type is binary.
		if !slices.Equal(api.BinaryMediaTypes, []string{"*~1*"}) {
			t.Errorf("BinaryMediaTypes %v, want [*~1*] (*/*)", api.BinaryMediaTypes)
		}
		checkRoutes(t, api.DefinitionBody, "", "/", "/token", "/{proxy+}")
		checkGate(t, api.DefinitionBody)
		checkPermission(t, tpl, "RestApiInvokePermission", "RestApi")

		// API Gateway does not apply a customised REQUEST_TOO_LARGE
		// ("Amazon API Gateway important notes for REST APIs"): a
		// template that sets one promises users a body they never get.
		body, _ := api.DefinitionBody.(map[string]any)
		responses, _ := body["x-amazon-apigateway-gateway-responses"].(map[string]any)
		if _, ok := responses["REQUEST_TOO_LARGE"]; ok {
			t.Error("the REST API customises REQUEST_TOO_LARGE, which API Gateway does not apply")
		}
	})
}

// checkRoutes checks that an OpenAPI body routes ANY of want, and nothing
// else, to ApiFunction as a Lambda proxy integration (payload format
// version payload; "" for a REST API, whose proxy integrations are 1.0).
func checkRoutes(t *testing.T, definition any, payload string, want ...string) {
	t.Helper()
	body, _ := definition.(map[string]any)
	paths, _ := body["paths"].(map[string]any)
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("paths %v, want %v", got, want)
	}
	for p, item := range paths {
		methods, _ := item.(map[string]any)
		if len(methods) != 1 {
			t.Errorf("%s has %d methods, want ANY alone", p, len(methods))
		}
		m, _ := methods["x-amazon-apigateway-any-method"].(map[string]any)
		if p == "$default" && m["isDefaultRoute"] != true {
			t.Errorf("$default is not marked isDefaultRoute")
		}
		in, _ := m["x-amazon-apigateway-integration"].(map[string]any)
		if in["type"] != "aws_proxy" || in["httpMethod"] != "POST" || in["uri"] != apiIntegrationURI {
			t.Errorf("%s: integration %v is not a Lambda proxy of ApiFunction", p, in)
		}
		if v, _ := in["payloadFormatVersion"].(string); v != payload {
			t.Errorf("%s: payload format version %q, want %q", p, v, payload)
		}
	}
}

func checkPermission(t *testing.T, tpl *cloudformation.Template, name, api string) {
	t.Helper()
	p, err := tpl.GetLambdaPermissionWithName(name)
	if err != nil {
		t.Fatal(err)
	}
	want := lambda.Permission{
		Action:       "lambda:InvokeFunction",
		FunctionName: "${ApiFunction}",
		Principal:    "apigateway.amazonaws.com",
		SourceArn:    ptr("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api + "}/*"),
	}
	if p.Action != want.Action || p.FunctionName != want.FunctionName || p.Principal != want.Principal || deref(p.SourceArn) != *want.SourceArn {
		t.Errorf("%s lets %s call %s from %s; want %s calling ApiFunction from %s only",
			name, p.Principal, p.FunctionName, deref(p.SourceArn), want.Principal, *want.SourceArn)
	}
}

func TestOutputs(t *testing.T) {
	const host = ".execute-api.${AWS::Region}.${AWS::URLSuffix}"
	for _, tt := range []struct {
		apiType, url, host, id string
	}{
		{"http", "https://${HttpApi}" + host, "${HttpApi}" + host, "${HttpApi}"},
		{"rest", "https://${RestApi}" + host, "${RestApi}" + host, "${RestApi}"},
		// The host of https://<url-id>.lambda-url.<region>.on.aws/.
		{"url", "https://${ApiFunctionUrl.FunctionUrl/2}", "${ApiFunctionUrl.FunctionUrl/2}", "${ApiFunctionUrl.FunctionUrl/2.0}"},
	} {
		out := load(t, map[string]any{"ApiType": tt.apiType}).Outputs
		got := map[string]any{}
		for k, o := range out {
			got[k] = o.Value
		}
		want := map[string]any{
			"RegistryUrl":     tt.url,
			"RegistryHost":    tt.host,
			"ApiId":           tt.id,
			"ApiFunctionName": "${ApiFunction}",
			"GcFunctionName":  "${GcFunction}",
			"BucketName":      "${Bucket}",
			"TableName":       "${Table}",
			"TablePrefix":     defaultTablePrefix,
			"TokenSigningKey": "${TokenSigningKey}",
			"DashboardUrl":    "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards/dashboard/${Dashboard}",
			// Under condition HasCdn (goformation keeps it): TestCdn.
			"CdnDomainName": "${Cdn.DomainName}",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ApiType=%s: outputs\n got %v\nwant %v", tt.apiType, got, want)
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefInt(p *int) int { return deref(p) }

func isTrue(p *bool) bool { return p != nil && *p }

func ptr[T any](v T) *T { return &v }
