// Package auth is Pier's authentication and authorisation: who a caller
// is, and what it may do to which repository.
//
// It has the pieces the HTTP layer puts together, and knows nothing of
// routes or of AWS:
//
//   - scopes and actions as the Docker registry token specification
//     writes them ("repository:team/app:pull,push"): [Scope], [ParseScopes];
//   - the names of identities and the text of grants, as the admin
//     commands take them: [CheckName], [ParseGrant], [FormatGrants];
//   - the access policy: per-identity grants on repository-name patterns
//     and the patterns anyone may pull: [Policy], [Allowed], [Intersect];
//   - short-lived HS256 JWTs carrying the granted scopes, and refresh
//     tokens to get more of them: [Signer], [Claims];
//   - checking a user's password (bcrypt) or a robot token's secret
//     (SHA-256) against the store, with a short in-memory cache so a pull
//     sent with Basic credentials does not pay a bcrypt per request:
//     [Verifier], [HashPassword], [NewRobotSecret];
//   - a limit on failed logins per user at a client address and per
//     client address: [Limiter];
//   - the token endpoint of the token specification, GET with Basic
//     credentials and the OAuth2 form POST: [TokenHandler];
//   - the WWW-Authenticate challenge that sends clients to it: [Challenge].
//
// Verifying an access token costs no store or AWS call: only the signing
// key, loaded once, is needed. A password is checked only at the token
// endpoint or for Basic credentials sent straight to /v2/, and then at
// most once a minute per credential and process.
package auth
