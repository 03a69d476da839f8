package template

import (
	"os/exec"
	"testing"
)

// TestCfnLint runs cfn-lint on the template where it is installed (a pip
// package; this machine kind has it, a fresh one may not). cfn-lint runs
// SAM's own transform (aws-sam-translator) first, so a template that SAM
// would refuse fails here, then checks the CloudFormation it makes against
// the resource specifications: what goformation, which reads the SAM
// template as written, cannot check.
func TestCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	out, err := exec.Command(lint, "--", templatePath).CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}
