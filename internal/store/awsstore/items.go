package awsstore

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func avN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func avB(b []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: b} }

func avBool(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

// getS returns the string attribute name of item, or "".
func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// getL returns the list attribute name of item, or none; an error when it
// is not a list.
func getL(item map[string]types.AttributeValue, name string) ([]types.AttributeValue, error) {
	v, ok := item[name]
	if !ok {
		return nil, nil
	}
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		return nil, fmt.Errorf("attribute %s is not a list", name)
	}
	return l.Value, nil
}

// getN returns the number attribute name of item, or 0.
func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

// getB returns the binary attribute name of item, or nil.
func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok && len(v.Value) > 0 {
		return v.Value
	}
	return nil
}

// manifestRecord is the manifest record: the attributes of a manifest that its
// manifest item, its tag items and (but for the body and subject) its
// referrer item hold.
type manifestRecord struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// AnnotationsInBody: the annotations were over MaxAnnotations and are
	// not kept (store.Manifest.AnnotationsInBody).
	AnnotationsInBody bool          `json:"annotationsInBody,omitempty"`
	Subject           digest.Digest `json:"subject,omitempty"`
	Body              []byte        `json:"body,omitempty"`
}

func newManifestRecord(man store.Manifest) manifestRecord {
	r := manifestRecord{
		MediaType:    man.MediaType,
		Size:         man.Size,
		ArtifactType: man.ArtifactType,
		Annotations:  man.Annotations,
		Subject:      man.Subject,
	}
	if len(man.Annotations) == 0 {
		r.Annotations = nil
	}
	if store.AnnotationsSize(man.Annotations) > MaxAnnotations || man.AnnotationsInBody {
		r.Annotations, r.AnnotationsInBody = nil, true
	}
	if len(man.Body) > 0 && len(man.Body) <= MaxInlineBody {
		r.Body = man.Body
	}
	return r
}

// MaxAnnotations is the most bytes of annotations (keys and values) that
// the items of a manifest keep: an item holds at most 400 KB, and a
// manifest may have 4 MiB of annotations. Larger annotations are left in
// the manifest's body (store.Manifest.AnnotationsInBody).
const MaxAnnotations = store.MaxRecordAnnotations

// hash returns the SHA-256 of the record's JSON (whose map keys are
// sorted), which tells two records apart.
func (r manifestRecord) hash() []byte {
	b, err := json.Marshal(r)
	if err != nil { // a struct of strings, numbers and bytes
		panic(err)
	}
	h := sha256.Sum256(b)
	return h[:]
}

// put adds the record's attributes to item; with body false, all but the
// body and the subject (a referrer item's).
func (r manifestRecord) put(item map[string]types.AttributeValue, body bool) {
	item[attrMediaType] = avS(r.MediaType)
	item[attrSize] = avN(r.Size)
	if r.ArtifactType != "" {
		item[attrArtifactType] = avS(r.ArtifactType)
	}
	if len(r.Annotations) > 0 {
		ann := make(map[string]types.AttributeValue, len(r.Annotations))
		for k, v := range r.Annotations {
			ann[k] = avS(v)
		}
		item[attrAnnotations] = &types.AttributeValueMemberM{Value: ann}
	}
	if r.AnnotationsInBody {
		item[attrAnnotationsInBody] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if !body {
		return
	}
	if r.Subject != "" {
		item[attrSubject] = avS(r.Subject.String())
	}
	if len(r.Body) > 0 {
		item[attrBody] = avB(r.Body)
	}
}

// recordAttrs are the attributes of a record, in the order put writes them.
var recordAttrs = []string{attrMediaType, attrSize, attrArtifactType, attrAnnotations, attrAnnotationsInBody, attrSubject, attrBody}

// manifestFrom returns the manifest d whose record item holds.
func manifestFrom(item map[string]types.AttributeValue, d digest.Digest) (store.Manifest, error) {
	size, err := getN(item, attrSize)
	if err != nil {
		return store.Manifest{}, err
	}
	man := store.Manifest{
		Digest:       d,
		MediaType:    getS(item, attrMediaType),
		Size:         size,
		ArtifactType: getS(item, attrArtifactType),
		Subject:      digest.Digest(getS(item, attrSubject)),
		Body:         getB(item, attrBody),
	}
	if v, ok := item[attrAnnotationsInBody].(*types.AttributeValueMemberBOOL); ok {
		man.AnnotationsInBody = v.Value
	}
	if v, ok := item[attrAnnotations].(*types.AttributeValueMemberM); ok && len(v.Value) > 0 {
		man.Annotations = make(map[string]string, len(v.Value))
		for k, a := range v.Value {
			s, ok := a.(*types.AttributeValueMemberS)
			if !ok {
				return store.Manifest{}, fmt.Errorf("annotation %q is not a string", k)
			}
			man.Annotations[k] = s.Value
		}
	}
	return man, nil
}
