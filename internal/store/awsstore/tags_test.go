package awsstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// capacityMeter sums the write units DynamoDB reports consumed by the
// TransactWriteItems requests of a client it is installed in.
type capacityMeter struct {
	mu  sync.Mutex
	wru float64
}

// take returns the write units consumed since the last take.
func (c *capacityMeter) take() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wru
	c.wru = 0
	return w
}

// install asks every TransactWriteItems of the client for its consumed
// capacity (ReturnConsumedCapacity TOTAL) and adds it to the meter.
func (c *capacityMeter) install(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("TestCapacityMeter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if tw, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
				tw.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityTotal
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if tw, ok := out.Result.(*dynamodb.TransactWriteItemsOutput); ok && err == nil {
				c.mu.Lock()
				for _, cc := range tw.ConsumedCapacity {
					c.wru += aws.ToFloat64(cc.CapacityUnits)
				}
				c.mu.Unlock()
			}
			return out, md, err
		}), middleware.After)
}

// metered returns a Metadata on a fresh table (as newMetadata), whose
// transactions' write units meter counts, and the client it uses.
func metered(t *testing.T) (*awsstore.Metadata, *dynamodb.Client, *capacityMeter) {
	t.Helper()
	base := newMetadata(t)
	c, err := awsstore.NewClients(context.Background(), awsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	meter := &capacityMeter{}
	client := dynamodb.New(c.DynamoDB.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, meter.install)
	})
	return awsstore.NewMetadata(client, base.Table()), client, meter
}

// itemSize returns the size DynamoDB bills an item by, roughly: the
// lengths of its attribute names and values.
func itemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberB:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberBOOL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		return itemSize(v.Value)
	case *ddbtypes.AttributeValueMemberL:
		n := 0
		for _, e := range v.Value {
			n += valueSize(e)
		}
		return n
	}
	return 0
}

// partition returns the items of partition pk of m's table.
func partition(t *testing.T, client *dynamodb.Client, m *awsstore.Metadata, pk string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	var items []map[string]ddbtypes.AttributeValue
	p := dynamodb.NewQueryPaginator(client, &dynamodb.QueryInput{
		TableName:                 aws.String(m.Table()),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
	}
	return items
}

// TestMetadataTagsFlatCost pushes 3,000 tags onto one manifest of a 1 KiB
// body, one manifest PUT each (as a client tags an image), and checks that
// a tag push costs as much at the end as at the start: the manifest item
// does not grow with its tags, nor do the write units of the push. Then
// DeleteManifest removes every tag, and leaves nothing in the repository's
// partition.
func TestMetadataTagsFlatCost(t *testing.T) {
	m, client, meter := metered(t)
	ctx := context.Background()
	const (
		repo   = "scale/tags"
		n      = 3000
		window = 100 // pushes averaged at the start and at the end
	)
	man := testManifest("flat", 1<<10)
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%05d", i)
	}
	manifestItem := func() map[string]ddbtypes.AttributeValue {
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(m.Table()),
			Key: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: "r#" + repo},
				"sk": &ddbtypes.AttributeValueMemberS{Value: "m#" + man.Digest.String()},
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil || len(out.Item) == 0 {
			t.Fatalf("the manifest item: %d attributes, %v", len(out.Item), err)
		}
		return out.Item
	}

	start := time.Now()
	var first, last float64
	var firstSize int
	for i, tag := range tags {
		if err := m.PutManifest(ctx, repo, man, []string{tag}); err != nil {
			t.Fatalf("push of tag %d: %v", i, err)
		}
		switch i {
		case 0:
			firstSize = itemSize(manifestItem())
		case window - 1:
			first = meter.take() / window
		case n - window - 1:
			meter.take()
		}
	}
	last = meter.take() / window
	lastSize := itemSize(manifestItem())
	t.Logf("%d tag pushes in %s: %.2f write units a push for the first %d, %.2f for the last %d; manifest item %d bytes after one tag, %d after %d",
		n, time.Since(start).Round(time.Millisecond), first, window, last, window, firstSize, lastSize, n)
	// The version number gains a few digits; nothing else may grow.
	if lastSize > firstSize+8 {
		t.Errorf("the manifest item grew from %d bytes (1 tag) to %d (%d tags)", firstSize, lastSize, n)
	}
	if first == 0 {
		t.Fatal("DynamoDB reported no consumed capacity")
	}
	if last > first+0.5 {
		t.Errorf("a tag push costs %.2f write units at %d tags, %.2f at the first %d", last, n, first, window)
	}

	got, err := m.Tags(ctx, repo, "", 2*n)
	if err != nil || !slices.Equal(got, tags) {
		t.Fatalf("Tags = %d tags, %v; want %d", len(got), err, n)
	}
	start = time.Now()
	if err := m.DeleteManifest(ctx, repo, man.Digest); err != nil {
		t.Fatal(err)
	}
	t.Logf("DeleteManifest of %d tags in %s", n, time.Since(start).Round(time.Millisecond))
	if got, err := m.Tags(ctx, repo, "", 2*n); err != nil || len(got) != 0 {
		t.Fatalf("Tags after DeleteManifest = %d tags, %v; want none", len(got), err)
	}
	for _, tag := range []string{tags[0], tags[n/2], tags[n-1]} {
		if _, err := m.Tag(ctx, repo, tag); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Tag(%s) after DeleteManifest: %v, want ErrNotFound", tag, err)
		}
	}
	if items := partition(t, client, m, "r#"+repo); len(items) != 0 {
		t.Fatalf("%d items left in the repository's partition after DeleteManifest", len(items))
	}
}

// sortKeys returns the sort keys of the items of partition pk, in order.
func sortKeys(t *testing.T, client *dynamodb.Client, m *awsstore.Metadata, pk string) []string {
	t.Helper()
	var keys []string
	for _, item := range partition(t, client, m, pk) {
		keys = append(keys, item["sk"].(*ddbtypes.AttributeValueMemberS).Value)
	}
	return keys
}

// TestMetadataTagRefs checks that a tag moved to another manifest or
// deleted leaves no ref behind, and that a stale ref (as a DeleteTag
// stopped half way leaves) is dropped by a put that changes the
// manifest's record and by DeleteManifest, which delete the tags that name
// the manifest and no other.
func TestMetadataTagRefs(t *testing.T) {
	m, client, _ := metered(t)
	ctx := context.Background()
	const repo = "refs"
	pk := "r#" + repo
	a, b := testManifest("a", 0), testManifest("b", 0)
	mustPut(t, m, repo, a, "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9")
	// A move is a transaction that fails on the tags' conditions and
	// returns their items, then one that moves them.
	counted(t, "PutManifest moving 5 tags", map[string]int{"dynamodb.TransactWriteItems": 2}, func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, b, []string{"t0", "t1", "t2", "t3", "t4"})
	})
	counted(t, "PutManifest moving a tag and adding one", map[string]int{"dynamodb.TransactWriteItems": 2}, func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, b, []string{"t5", "new"})
	})
	counted(t, "PutManifest of tags that name it", map[string]int{"dynamodb.TransactWriteItems": 1}, func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, b, []string{"t5", "new"})
	})
	if err := m.DeleteTag(ctx, repo, "t6"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteTag(ctx, repo, "new"); err != nil {
		t.Fatal(err)
	}
	ma, mb := "m#"+a.Digest.String(), "m#"+b.Digest.String()
	ra, rb := "n#"+a.Digest.String()+"#", "n#"+b.Digest.String()+"#"
	want := []string{ma, mb}
	for _, tag := range []string{"t0", "t1", "t2", "t3", "t4", "t5"} {
		want = append(want, rb+tag, "t#"+tag)
	}
	for _, tag := range []string{"t7", "t8", "t9"} {
		want = append(want, ra+tag, "t#"+tag)
	}
	slices.Sort(want)
	if got := sortKeys(t, client, m, pk); !slices.Equal(got, want) {
		t.Fatalf("items after the moves and deletes:\n got %q\nwant %q", got, want)
	}

	// Stale refs: one whose tag names b, one whose tag is gone.
	stale := func(tag string) {
		t.Helper()
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(m.Table()),
			Item: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: pk},
				"sk": &ddbtypes.AttributeValueMemberS{Value: ra + tag},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stale("t0")
	stale("ghost")
	changed := a
	changed.Annotations = map[string]string{"v": "2"}
	// The first try returns the manifest item; the refs are read; the
	// copies fail on the two stale refs; the copies go, the stale refs too.
	counted(t, "PutManifest of a changed record with stale refs", map[string]int{
		"dynamodb.TransactWriteItems": 3, "dynamodb.Query": 1,
	}, func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, changed, nil)
	})
	for _, tag := range []string{"t7", "t9"} {
		got, err := m.Tag(ctx, repo, tag)
		if err != nil {
			t.Fatal(err)
		}
		sameManifest(t, "Tag("+tag+")", got, changed, true)
	}
	if got, err := m.Tag(ctx, repo, "t0"); err != nil || got.Digest != b.Digest {
		t.Fatalf("Tag(t0) = %s, %v; want %s", got.Digest, err, b.Digest)
	}
	if got := sortKeys(t, client, m, pk); !slices.Equal(got, want) {
		t.Fatalf("items after the put of a changed record:\n got %q\nwant %q", got, want)
	}

	stale("t1")
	counted(t, "DeleteManifest with a stale ref", map[string]int{
		"dynamodb.GetItem": 1, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 2,
	}, func(ctx context.Context) error {
		return m.DeleteManifest(ctx, repo, a.Digest)
	})
	want = slices.DeleteFunc(want, func(k string) bool {
		return k == ma || strings.HasPrefix(k, ra) || slices.Contains([]string{"t#t7", "t#t8", "t#t9"}, k)
	})
	if got := sortKeys(t, client, m, pk); !slices.Equal(got, want) {
		t.Fatalf("items after DeleteManifest(a):\n got %q\nwant %q", got, want)
	}
	if err := m.DeleteManifest(ctx, repo, b.Digest); err != nil {
		t.Fatal(err)
	}
	if got := sortKeys(t, client, m, pk); len(got) != 0 {
		t.Fatalf("items after DeleteManifest(b): %q", got)
	}
}

// TestMetadataTagRefsRace runs pushes (moving tags, changing records),
// tag deletes and manifest deletes at once on a few manifests and tags,
// then checks the table: every tag names a manifest that exists, carries
// its record, and has its ref; every ref is its tag's.
func TestMetadataTagRefsRace(t *testing.T) {
	m, client, _ := metered(t)
	ctx := context.Background()
	const repo = "refs-race"
	manifests := []store.Manifest{testManifest("x", 0), testManifest("y", 0), testManifest("z", 0)}
	tags := []string{"t0", "t1", "t2", "t3", "t4", "t5"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for g := range 6 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 40 {
				man := manifests[rnd.IntN(len(manifests))]
				var err error
				switch op := rnd.IntN(10); {
				case op < 5:
					var ts []string
					for range 1 + rnd.IntN(3) {
						ts = append(ts, tags[rnd.IntN(len(tags))])
					}
					if rnd.IntN(3) == 0 {
						man.Annotations = map[string]string{"v": fmt.Sprint(g, "-", i)}
					}
					err = m.PutManifest(ctx, repo, man, ts)
				case op < 8:
					err = m.DeleteTag(ctx, repo, tags[rnd.IntN(len(tags))])
				default:
					err = m.DeleteManifest(ctx, repo, man.Digest)
				}
				switch {
				case errors.Is(err, store.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil && !errors.Is(err, store.ErrNotFound):
					t.Errorf("racer %d, op %d: %v", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d operations lost every race (ErrConflict)", conflicts)

	items := partition(t, client, m, "r#"+repo)
	has := map[string]bool{}
	for _, item := range items {
		has[item["sk"].(*ddbtypes.AttributeValueMemberS).Value] = true
	}
	for _, tag := range tags {
		got, err := m.Tag(ctx, repo, tag)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		man, err := m.Manifest(ctx, repo, got.Digest)
		if err != nil {
			t.Errorf("tag %s names %s: %v", tag, got.Digest, err)
			continue
		}
		sameManifest(t, "Tag("+tag+")", got, man, true)
		if !has["n#"+got.Digest.String()+"#"+tag] {
			t.Errorf("tag %s names %s, which has no ref to it", tag, got.Digest)
		}
	}
	for sk := range has {
		rest, ok := strings.CutPrefix(sk, "n#")
		if !ok {
			continue
		}
		d, tag, _ := strings.Cut(rest, "#")
		if got, err := m.Tag(ctx, repo, tag); err != nil || got.Digest.String() != d {
			t.Errorf("stale ref %s: Tag(%s) = %s, %v", sk, tag, got.Digest, err)
		}
	}
}
