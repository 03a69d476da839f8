package template

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestSamconfigExample checks that the parameter overrides of
// infra/samconfig.toml name parameters of the template, with values the
// template allows.
func TestSamconfigExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "infra", "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := load(t, nil)
	lines := regexp.MustCompile(`(?m)^parameter_overrides = (".*")$`).FindAllSubmatch(data, -1)
	if len(lines) == 0 {
		t.Fatal("no parameter_overrides in infra/samconfig.toml")
	}
	pair := regexp.MustCompile(`(\w+)="([^"]*)"`)
	for _, l := range lines {
		s, err := strconv.Unquote(string(l[1]))
		if err != nil {
			t.Fatalf("parameter_overrides %s: %v", l[1], err)
		}
		pairs := pair.FindAllStringSubmatch(s, -1)
		if len(pairs) == 0 {
			t.Errorf("parameter_overrides %q holds no Key=\"Value\"", s)
		}
		for _, p := range pairs {
			name, value := p[1], p[2]
			param, ok := tpl.Parameters[name]
			if !ok {
				t.Errorf("infra/samconfig.toml sets %s, which is no parameter of the template", name)
				continue
			}
			if len(param.AllowedValues) > 0 && !slices.ContainsFunc(param.AllowedValues, func(v any) bool { return fmt.Sprint(v) == value }) {
				t.Errorf("infra/samconfig.toml sets %s=%s, not one of %v", name, value, param.AllowedValues)
			}
			if param.AllowedPattern != nil && !regexp.MustCompile(*param.AllowedPattern).MatchString(value) {
				t.Errorf("infra/samconfig.toml sets %s=%s, which does not match %s", name, value, *param.AllowedPattern)
			}
		}
	}
}
