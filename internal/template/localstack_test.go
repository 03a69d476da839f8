package template

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The LocalStack scripts and README print the REST API's URL on LocalStack,
// http://<ApiId>.execute-api.localhost.localstack.cloud:4566/<stage>: the
// stage must be the one the template deploys (a URL with another stage
// answers 404 or "stage not found").
func TestLocalStackStage(t *testing.T) {
	tpl := load(t, map[string]any{"ApiType": "rest"})
	api, err := tpl.GetServerlessApiWithName("RestApi")
	if err != nil {
		t.Fatal(err)
	}
	stage := api.StageName
	if stage == "" {
		t.Fatal("the REST API has no StageName")
	}
	url := regexp.MustCompile(`https?://\S*localstack\.cloud:4566/([A-Za-z0-9_$-]+)`)
	for _, name := range []string{"README.md", "deploy.sh"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "infra", "localstack", name))
		if err != nil {
			t.Fatal(err)
		}
		ms := url.FindAllSubmatch(b, -1)
		if len(ms) == 0 {
			t.Errorf("infra/localstack/%s names no LocalStack API URL", name)
		}
		for _, m := range ms {
			if string(m[1]) != stage {
				t.Errorf("infra/localstack/%s: %s names stage %q; the template deploys %q", name, m[0], m[1], stage)
			}
		}
	}
}
