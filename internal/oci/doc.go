// Package oci holds the rules of the OCI distribution and image specs that
// Pier enforces: the grammar of repository names, tags and digests, the
// media types it knows, manifest parsing and checks, and the error codes of
// the distribution API.
//
// Nothing here touches storage or HTTP: every check in this package runs
// before a request reaches either.
package oci
