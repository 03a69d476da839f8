package template

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// templatePath is the SAM template, from this package's directory.
var templatePath = filepath.Join("..", "..", "template.yaml")

// load parses the template with goformation, parameters taking their
// defaults except those in overrides, and intrinsic functions resolved by
// the symbolic handlers below.
func load(t *testing.T, overrides map[string]any) *cloudformation.Template {
	t.Helper()
	return loadFile(t, templatePath, overrides)
}

// loadFile is load of the template at path.
func loadFile(t *testing.T, path string, overrides map[string]any) *cloudformation.Template {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// goformation v7 predates AWS::Lambda::Permission's
	// InvokedViaFunctionUrl (2025) and refuses the template with it:
	// TestFunctionURL checks that property in the template's text.
	src = newerProperties.ReplaceAll(src, nil)
	tpl, err := goformation.ParseYAMLWithOptions(src, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        symRef,
			"Fn::GetAtt": symGetAtt,
			"Fn::Sub":    symSub,
			"Fn::If":     symIf,
			"Fn::Split":  symSplit,
			"Fn::Select": symSelect,
		},
		ParameterOverrides: overrides,
	})
	if err != nil {
		t.Fatalf("goformation cannot parse %s: %v", path, err)
	}
	return tpl
}

// newerProperties are the lines of properties that goformation does not
// know.
var newerProperties = regexp.MustCompile(`(?m)^ *InvokedViaFunctionUrl: true\n`)

// The symbolic handlers resolve what a template reader can resolve: a
// parameter to its default, a condition to its value over the defaults;
// and keep what only a deployment knows as a placeholder in Fn::Sub
// syntax: ${Bucket}, ${Table.Arn}, ${AWS::Region}; a part of a split
// placeholder is ${X/i} (the i-th part of X split at "/").

func symRef(_ string, input any, template any) any {
	name, ok := input.(string)
	if !ok {
		return nil
	}
	if name == "AWS::NoValue" {
		return nil
	}
	if def, ok := paramDefault(template, name); ok {
		return def
	}
	if isListParam(template, name) { // List<AWS::EC2::Subnet::Id>: a list of one placeholder
		return []any{"${" + name + "}"}
	}
	return "${" + name + "}"
}

// isListParam reports whether parameter name is a list.
func isListParam(template any, name string) bool {
	tm, _ := template.(map[string]any)
	params, _ := tm["Parameters"].(map[string]any)
	p, _ := params[name].(map[string]any)
	typ, _ := p["Type"].(string)
	return strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList"
}

func symGetAtt(_ string, input any, _ any) any {
	switch v := input.(type) {
	case string: // "Resource.Attribute"
		return "${" + v + "}"
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = fmt.Sprint(p)
		}
		return "${" + strings.Join(parts, ".") + "}"
	}
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func symSub(_ string, input any, template any) any {
	var (
		src  string
		vars map[string]any
	)
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) != 2 {
			return nil
		}
		src, _ = v[0].(string)
		vars, _ = v[1].(map[string]any)
	default:
		return nil
	}
	return subVar.ReplaceAllStringFunc(src, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") { // ${!Literal}
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		if strings.Contains(name, ".") { // a Fn::GetAtt
			return m
		}
		return fmt.Sprint(symRef("Ref", name, template))
	})
}

func symIf(_ string, input any, template any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		return nil
	}
	name, _ := args[0].(string)
	if evalCondition(template, name) {
		return args[1]
	}
	return args[2]
}

// maxParts is how many parts symSplit makes of a placeholder.
const maxParts = 8

func symSplit(_ string, input any, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return nil
	}
	delim, _ := args[0].(string)
	src, _ := args[1].(string)
	if m := subVar.FindStringSubmatch(src); m != nil && m[0] == src {
		parts := make([]any, maxParts)
		for i := range parts {
			parts[i] = fmt.Sprintf("${%s%s%d}", m[1], delim, i)
		}
		return parts
	}
	parts := []any{}
	for _, p := range strings.Split(src, delim) {
		parts = append(parts, p)
	}
	return parts
}

func symSelect(_ string, input any, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return nil
	}
	list, _ := args[1].([]any)
	var i int
	switch v := args[0].(type) {
	case float64:
		i = int(v)
	case int:
		i = v
	case string:
		fmt.Sscan(v, &i)
	}
	if i < 0 || i >= len(list) {
		return nil
	}
	return list[i]
}

// paramDefault returns the default of parameter name (overrides already
// written into the defaults by goformation).
func paramDefault(template any, name string) (any, bool) {
	tm, _ := template.(map[string]any)
	params, _ := tm["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	if !ok {
		return nil, false
	}
	def, ok := p["Default"]
	return def, ok
}

// evalCondition evaluates condition name of the template (not yet
// processed: intrinsic functions in their long form).
func evalCondition(template any, name string) bool {
	tm, _ := template.(map[string]any)
	conds, _ := tm["Conditions"].(map[string]any)
	expr, ok := conds[name]
	if !ok {
		panic(fmt.Sprintf("no condition %q in the template", name))
	}
	return evalBool(template, expr)
}

func evalBool(template any, expr any) bool {
	switch v := expr.(type) {
	case bool:
		return v
	case map[string]any:
		for fn, arg := range v {
			args, _ := arg.([]any)
			switch fn {
			case "Fn::Equals":
				return fmt.Sprint(evalValue(template, args[0])) == fmt.Sprint(evalValue(template, args[1]))
			case "Fn::Not":
				return !evalBool(template, args[0])
			case "Fn::And":
				for _, a := range args {
					if !evalBool(template, a) {
						return false
					}
				}
				return true
			case "Fn::Or":
				for _, a := range args {
					if evalBool(template, a) {
						return true
					}
				}
				return false
			case "Condition":
				return evalCondition(template, arg.(string))
			}
		}
	}
	panic(fmt.Sprintf("cannot evaluate condition %v", expr))
}

func evalValue(template any, v any) any {
	if m, ok := v.(map[string]any); ok {
		if name, ok := m["Ref"]; ok {
			return symRef("Ref", name, template)
		}
		panic(fmt.Sprintf("cannot evaluate %v in a condition", v))
	}
	return v
}
