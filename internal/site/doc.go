// Package site serves the files of OCI artifacts to browsers: a static
// site pushed with `oras push` opens at
//
//	/sites/<repository>/@<tag or digest>/<path>
//
// The '@' segment ends the repository's name (no name component may hold
// one) and names the manifest. Relative links resolve inside the site,
// because the manifest's URL ends in a '/'; a URL without it, or a
// directory's URL without its '/', is redirected to the one with it.
//
// # What a site is
//
// An image manifest's layers, laid out as `oras pull` lays them out:
//
//   - a layer titled with org.opencontainers.image.title is the file of that
//     name (`oras push HOST/site:v1 index.html style.css`);
//   - a gzipped tar layer titled DIR and annotated
//     io.deis.oras.content.unpack=true is the directory DIR with the
//     archive's regular files in it (`oras push HOST/site:v1 ./DIR`).
//
// When the manifest's only layer is one directory, that directory is the
// site's root, so both ways of pushing the same files give the same URLs.
// Untitled layers, and symbolic or hard links, devices and the like in an
// archive, are not part of the site.
//
// An archive is unpacked once per manifest digest: each regular file is
// stored as a blob (content-addressed, under its own digest), and an index
// of the site (path -> digest and size, JSON) as one more blob, whose
// digest is recorded under the manifest's digest (Records). Later visits,
// on any instance, read the index; each instance keeps recent indexes in
// memory. Unpacking is bounded: MaxEntries files, MaxUnpacked bytes, paths
// that are clean and relative (no "..", no absolute path).
//
// # Responses
//
// A path names a file; a path ending in '/' (or empty) names the directory's
// index.html. A path that is a directory gets a redirect to its URL with a
// '/'; anything else the site's own 404.html with status 404, or a plain
// page. Content-Type comes from the file's extension (a fixed table, then
// the system's), else from the layer's media type when it is not an OCI
// one, else application/octet-stream; X-Content-Type-Options is nosniff.
// The ETag is the file's digest. Cache-Control is long and immutable when
// the URL names the manifest by digest, short (a minute) by tag; public
// for a repository anyone may pull, else private.
//
// Files up to Options.InlineMax bytes come through the registry; larger
// ones, on a blob store that hands out URLs (S3), are a 307 redirect to a
// short-lived presigned URL. HTML is small, so pages keep their URL and
// their relative links; a redirected file keeps no Content-Type of its
// own (S3 sends application/octet-stream), which images and media do not
// need.
//
// # Access
//
// Only repositories the caller may pull are served, by the same access
// control as /v2 (Basic credentials, which browsers send, or a bearer
// token; --public patterns for anonymous visitors). A private site asks a
// browser for credentials with a Basic challenge.
package site
