package awsstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/store"
)

// maxBatchGet is the most keys one BatchGetItem may hold.
const maxBatchGet = 100

// getItem reads one item, strongly consistent; store.ErrNotFound when
// there is none.
func (m *Metadata) getItem(ctx context.Context, k map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := m.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &m.table,
		Key:            k,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, store.ErrNotFound
	}
	return out.Item, nil
}

// batchGet reads the items of keys (no two alike), strongly consistent,
// with only the attributes in projection (all when it is empty), in
// BatchGetItem requests of up to 100 keys, and calls found with each item
// there is.
func (m *Metadata) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, projection []string, found func(map[string]types.AttributeValue) error) error {
	var e ddbExpr
	var proj *string
	if len(projection) > 0 {
		ps := make([]string, len(projection))
		for i, p := range projection {
			ps[i] = e.name(p)
		}
		proj = aws.String(strings.Join(ps, ", "))
	}
	for len(keys) > 0 {
		n := min(len(keys), maxBatchGet)
		req := map[string]types.KeysAndAttributes{m.table: {
			Keys:                     keys[:n],
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     proj,
			ExpressionAttributeNames: e.names,
		}}
		keys = keys[n:]
		for retry := 0; len(req) > 0; retry++ {
			if retry > 0 {
				if retry > maxBatchRetries {
					return fmt.Errorf("batch get: keys left unprocessed after %d retries", maxBatchRetries)
				}
				if err := ddbBackoff(ctx, retry-1); err != nil {
					return err
				}
			}
			out, err := m.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return err
			}
			for _, item := range out.Responses[m.table] {
				if err := found(item); err != nil {
					return err
				}
			}
			req = nil
			if u, ok := out.UnprocessedKeys[m.table]; ok && len(u.Keys) > 0 {
				req = map[string]types.KeysAndAttributes{m.table: u}
			}
		}
	}
	return nil
}

// query runs Query on partition pk with the sort key condition skCond
// (built with e; "" for none), strongly consistent, and calls fn with up to
// n items in sort key order. It goes on with another Query only when the
// 1 MB limit of a response cut a page short.
func (m *Metadata) query(ctx context.Context, pk, skCond string, e *ddbExpr, n int, fn func(map[string]types.AttributeValue) error) error {
	cond := e.name(attrPK) + " = " + e.value(avS(pk))
	if skCond != "" {
		cond += " AND " + skCond
	}
	var start map[string]types.AttributeValue
	for n > 0 {
		out, err := m.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &m.table,
			KeyConditionExpression:    &cond,
			ExpressionAttributeNames:  e.names,
			ExpressionAttributeValues: e.values,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(min(n, 1<<30))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if n == 0 {
				break
			}
			if err := fn(item); err != nil {
				return err
			}
			n--
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
	return nil
}
