package auth

import "strings"

// Challenge returns the WWW-Authenticate value of a 401 that sends a
// client to the token endpoint at realm (an absolute URL) for scopes:
//
//	Bearer realm="https://r.example/token",service="pier",scope="repository:a/b:pull,push"
//
// Several scopes go space-separated into the one scope parameter, as the
// token specification writes them. service and scope are left out when
// empty. Values are quoted strings, '"' and '\' escaped.
func Challenge(realm, service string, scopes []Scope) string {
	var b strings.Builder
	b.WriteString(`Bearer realm=`)
	b.WriteString(quote(realm))
	if service != "" {
		b.WriteString(`,service=`)
		b.WriteString(quote(service))
	}
	if len(scopes) > 0 {
		b.WriteString(`,scope=`)
		b.WriteString(quote(JoinScopes(scopes)))
	}
	return b.String()
}

// ChallengeError adds to challenge (a Bearer challenge of Challenge) the
// error code of RFC 6750 (invalid_token, insufficient_scope) and a
// description for people: docker prints an insufficient_scope's
// description as "denied: <description>", and without one only
// "requested access to the resource is denied".
func ChallengeError(challenge, code, description string) string {
	challenge += `,error=` + quote(code)
	if description != "" {
		challenge += `,error_description=` + quote(description)
	}
	return challenge
}

// quote returns s as an HTTP quoted-string (RFC 9110, section 5.6.4),
// control characters dropped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
