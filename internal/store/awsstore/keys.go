package awsstore

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Attribute names.
const (
	attrPK                = "pk"
	attrSK                = "sk"
	attrDigest            = "digest"
	attrMediaType         = "mediaType"
	attrSize              = "size"
	attrArtifactType      = "artifactType"
	attrAnnotations       = "annotations"
	attrAnnotationsInBody = "annotationsInBody"
	attrSubject           = "subject"
	attrBody              = "body"
	attrRecordHash        = "rhash"
	attrVersion           = "version"
	attrTagged            = "tagged"
	attrLocation          = "location"
	attrRepository        = "repository"
	attrOffset            = "offset"
	attrHash              = "hash"
	attrState             = "state"
	attrExpires           = "expires"
	attrOwner             = "owner"
)

// Keys.
const (
	catalogPK  = "repos"
	sessionSK  = "u"
	tagPrefix  = "t#"
	tagsEnd    = "t$" // '$' is '#'+1: after every tag key
	maniPrefix = "m#"
	linkPrefix = "b#"
	refPrefix  = "n#" // n#<digest>#<tag>: a tag ref (see the layout)
)

func repoPK(repo string) string { return "r#" + repo }

func referrersPK(repo string, subject digest.Digest) string {
	return "f#" + repo + "#" + subject.String()
}

func sessionPK(id string) string { return "u#" + id }

// itemKey returns the key attributes of an item.
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(pk), attrSK: avS(sk)}
}

func tagKey(repo, tag string) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), tagPrefix+tag)
}

func manifestKey(repo string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), maniPrefix+d.String())
}

// refsPrefix returns the prefix of the sort keys of the tag refs of
// manifest d: a digest has no '#', so no other manifest's refs share it.
func refsPrefix(d digest.Digest) string { return refPrefix + d.String() + "#" }

// refKey returns the key of the tag ref that says tag names manifest d.
func refKey(repo string, d digest.Digest, tag string) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), refsPrefix(d)+tag)
}

func linkKey(repo string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), linkPrefix+d.String())
}

func catalogKey(repo string) map[string]types.AttributeValue {
	return itemKey(catalogPK, repo)
}

func referrerKey(repo string, subject digest.Digest, artifactType string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(referrersPK(repo, subject), store.ReferrerKey(artifactType, d))
}

// keyAfter returns the least string greater than s: keys after s are those at
// or above it.
func keyAfter(s string) string { return s + "\x00" }

// prefixEnd returns a string greater than every key that starts with
// prefix and goes on with characters below U+10FFFF.
func prefixEnd(prefix string) string { return prefix + "\U0010FFFF" }
