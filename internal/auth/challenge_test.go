package auth

import "testing"

func TestChallenge(t *testing.T) {
	tests := []struct {
		name           string
		realm, service string
		scopes         []Scope
		want           string
	}{
		{"one scope", "https://r.example/token", "pier", []Scope{{TypeRepository, "a/b", []string{Pull, Push}}},
			`Bearer realm="https://r.example/token",service="pier",scope="repository:a/b:pull,push"`},
		{"two scopes", "https://r.example/token", "pier", []Scope{{TypeRepository, "a/b", []string{Pull, Push}}, {TypeRepository, "c", []string{Pull}}},
			`Bearer realm="https://r.example/token",service="pier",scope="repository:a/b:pull,push repository:c:pull"`},
		{"catalog", "https://r.example/token", "pier", []Scope{{TypeRegistry, Catalog, []string{AllActions}}},
			`Bearer realm="https://r.example/token",service="pier",scope="registry:catalog:*"`},
		{"no scope", "https://r.example/token", "pier", nil,
			`Bearer realm="https://r.example/token",service="pier"`},
		{"no service", "http://127.0.0.1:5000/token", "", nil,
			`Bearer realm="http://127.0.0.1:5000/token"`},
		{"quoted", `https://r.example/"x\`, "p\"ier\n", nil,
			`Bearer realm="https://r.example/\"x\\",service="p\"ier"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Challenge(tt.realm, tt.service, tt.scopes); got != tt.want {
				t.Errorf("Challenge = %s\nwant        %s", got, tt.want)
			}
		})
	}
}
