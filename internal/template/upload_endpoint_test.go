package template

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/pier-registry/pier/internal/config"
)

// uploadEndpointPath is the template of the upload endpoint (ECS Fargate
// behind an HTTPS load balancer), from this package's directory.
var uploadEndpointPath = filepath.Join("..", "..", "infra", "upload-endpoint", "template.yaml")

func TestUploadEndpointResources(t *testing.T) {
	tpl := loadFile(t, uploadEndpointPath, nil)
	want := map[string]string{
		"Cluster":                   "AWS::ECS::Cluster",
		"LogGroup":                  "AWS::Logs::LogGroup",
		"ExecutionRole":             "AWS::IAM::Role",
		"TaskRole":                  "AWS::IAM::Role",
		"TaskDefinition":            "AWS::ECS::TaskDefinition",
		"LoadBalancerSecurityGroup": "AWS::EC2::SecurityGroup",
		"TaskSecurityGroup":         "AWS::EC2::SecurityGroup",
		"LoadBalancer":              "AWS::ElasticLoadBalancingV2::LoadBalancer",
		"TargetGroup":               "AWS::ElasticLoadBalancingV2::TargetGroup",
		"HttpsListener":             "AWS::ElasticLoadBalancingV2::Listener",
		"Service":                   "AWS::ECS::Service",
	}
	got := map[string]string{}
	for name, r := range tpl.Resources {
		got[name] = r.AWSCloudFormationType()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resources\n got %v\nwant %v", got, want)
	}
}

// The task role grants what the Pier stack's ApiFunction is granted, on
// the stack's resources as the parameters name them: no more, no less.
func TestUploadEndpointGrants(t *testing.T) {
	tpl := loadFile(t, uploadEndpointPath, nil)
	role, err := tpl.GetIAMRoleWithName("TaskRole")
	if err != nil {
		t.Fatal(err)
	}
	if len(role.ManagedPolicyArns) > 0 {
		t.Errorf("the task role has managed policies %v", role.ManagedPolicyArns)
	}
	got := grants{}
	for _, p := range role.Policies {
		doc, _ := p.PolicyDocument.(map[string]any)
		st, _ := doc["Statement"].([]any)
		addGrants(t, got, st)
	}
	fn := wantGrants[apiFunction]
	want := grants{
		"arn:${AWS::Partition}:s3:::${BucketName}/*":                                                   fn[s3Objects],
		"arn:${AWS::Partition}:s3:::${BucketName}":                                                     fn[s3Bucket],
		"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TablePrefix}metadata": fn[table],
		"${SigningKeySecretArn}":                                                                       fn[signingKey],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("task role grants\n got %v\nwant %v", got, want)
	}
}

// The container runs pier serve on the Pier stack's storage and signing
// key, with auth on and no request size limit, on the port that the load
// balancer sends to, behind HTTPS only.
func TestUploadEndpointService(t *testing.T) {
	tpl := loadFile(t, uploadEndpointPath, nil)
	td, err := tpl.GetECSTaskDefinitionWithName("TaskDefinition")
	if err != nil {
		t.Fatal(err)
	}
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers, want 1", len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]
	env := map[string]string{}
	known := config.EnvVars()
	for _, kv := range c.Environment {
		name := deref(kv.Name)
		if _, ok := known[name]; !ok {
			t.Errorf("the container sets %s, which Pier does not read", name)
		}
		env[name] = deref(kv.Value)
	}
	wantEnv := map[string]string{
		"PIER_ADDR":             "0.0.0.0:5000",
		"PIER_BACKEND":          "aws",
		"PIER_BUCKET":           "${BucketName}",
		"PIER_TABLE_PREFIX":     "${TablePrefix}",
		"PIER_AUTH":             "token",
		"PIER_AUTH_SECRET":      "${SigningKeySecretArn}",
		"PIER_PRESIGN_TTL":      "5m",
		"PIER_CHUNK_MAX_LENGTH": "0",
		"PIER_LOG_LEVEL":        "info",
	}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("container environment\n got %v\nwant %v", env, wantEnv)
	}
	if c.Image != "${ImageUri}" || len(c.PortMappings) != 1 || derefInt(c.PortMappings[0].ContainerPort) != 5000 {
		t.Errorf("container image %q, ports %v; want ${ImageUri} on 5000", c.Image, c.PortMappings)
	}
	if deref(td.TaskRoleArn) != "${TaskRole.Arn}" || !slices.Equal(td.RequiresCompatibilities, []string{"FARGATE"}) {
		t.Errorf("task role %q, compatibilities %v", deref(td.TaskRoleArn), td.RequiresCompatibilities)
	}

	tg, err := tpl.GetElasticLoadBalancingV2TargetGroupWithName("TargetGroup")
	if err != nil {
		t.Fatal(err)
	}
	if derefInt(tg.Port) != 5000 || deref(tg.TargetType) != "ip" || deref(tg.HealthCheckPath) != "/v2/" || tg.Matcher == nil || deref(tg.Matcher.HttpCode) != "200,401" {
		t.Errorf("target group: port %d, type %q, health check %q", derefInt(tg.Port), deref(tg.TargetType), deref(tg.HealthCheckPath))
	}
	l, err := tpl.GetElasticLoadBalancingV2ListenerWithName("HttpsListener")
	if err != nil {
		t.Fatal(err)
	}
	if deref(l.Protocol) != "HTTPS" || derefInt(l.Port) != 443 || len(l.Certificates) != 1 || deref(l.Certificates[0].CertificateArn) != "${CertificateArn}" {
		t.Errorf("listener: %s on %d, certificates %v; want HTTPS on 443 with ${CertificateArn}", deref(l.Protocol), derefInt(l.Port), l.Certificates)
	}
	// The load balancer takes 443 alone; the tasks take 5000 from it alone.
	for name, want := range map[string]struct {
		port         int
		cidr, source string
	}{
		"LoadBalancerSecurityGroup": {443, "0.0.0.0/0", ""}, // IngressCidr's default
		"TaskSecurityGroup":         {5000, "", "${LoadBalancerSecurityGroup}"},
	} {
		sg, err := tpl.GetEC2SecurityGroupWithName(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(sg.SecurityGroupIngress) != 1 {
			t.Errorf("%s: %d ingress rules, want 1", name, len(sg.SecurityGroupIngress))
			continue
		}
		in := sg.SecurityGroupIngress[0]
		if derefInt(in.FromPort) != want.port || derefInt(in.ToPort) != want.port || deref(in.CidrIp) != want.cidr || deref(in.SourceSecurityGroupId) != want.source {
			t.Errorf("%s ingress: ports %d-%d from %q/%q; want %d from %q/%q", name, derefInt(in.FromPort), derefInt(in.ToPort),
				deref(in.CidrIp), deref(in.SourceSecurityGroupId), want.port, want.cidr, want.source)
		}
	}
	if got := tpl.Outputs["UploadUrl"].Value; got != "https://${DomainName}" {
		t.Errorf("output UploadUrl is %v, want https://${DomainName}", got)
	}
	if got := tpl.Outputs["UploadOrigin"].Value; got != "${DomainName}" {
		t.Errorf("output UploadOrigin is %v, want ${DomainName}", got)
	}
}

// For the upload route the load balancer may take HTTPS from CloudFront's
// origin-facing servers alone (a managed prefix list) instead of a CIDR
// block.
func TestUploadEndpointPrefixList(t *testing.T) {
	const pl = "pl-3b927c52"
	for _, tt := range []struct {
		params       map[string]any
		cidr, prefix string
	}{
		{nil, "0.0.0.0/0", ""},
		{map[string]any{"IngressCidr": "192.0.2.0/24"}, "192.0.2.0/24", ""},
		{map[string]any{"IngressPrefixListId": pl}, "", pl},
	} {
		sg, err := loadFile(t, uploadEndpointPath, tt.params).GetEC2SecurityGroupWithName("LoadBalancerSecurityGroup")
		if err != nil {
			t.Fatal(err)
		}
		if len(sg.SecurityGroupIngress) != 1 {
			t.Fatalf("%v: %d ingress rules, want 1", tt.params, len(sg.SecurityGroupIngress))
		}
		in := sg.SecurityGroupIngress[0]
		if derefInt(in.FromPort) != 443 || deref(in.CidrIp) != tt.cidr || deref(in.SourcePrefixListId) != tt.prefix {
			t.Errorf("%v: ingress on %d from CIDR %q, prefix list %q; want 443 from %q, %q", tt.params, derefInt(in.FromPort), deref(in.CidrIp), deref(in.SourcePrefixListId), tt.cidr, tt.prefix)
		}
	}
}

// TestUploadEndpointCfnLint runs cfn-lint on the template where it is
// installed, as TestCfnLint does on the Pier stack's.
func TestUploadEndpointCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	if out, err := exec.Command(lint, "--", uploadEndpointPath).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", uploadEndpointPath, err, out)
	}
}
