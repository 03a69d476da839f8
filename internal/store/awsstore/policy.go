package awsstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/store"
)

// The policies are in the partition policies, under their pattern, with
// the attribute policy (S): the JSON of the store.Policy. No other
// partition key is policies (the others are repos, identities, or start
// with a letter and '#').

var _ store.Policies = (*Metadata)(nil)

const (
	policiesPK = "policies"
	attrPolicy = "policy"
)

// PutPolicy records p. One PutItem.
func (m *Metadata) PutPolicy(ctx context.Context, p store.Policy) error {
	v, err := json.Marshal(p)
	if err == nil {
		item := itemKey(policiesPK, p.Pattern)
		item[attrPolicy] = avS(string(v))
		_, err = m.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &m.table, Item: item})
	}
	if err != nil {
		return fmt.Errorf("put policy %s: %w", p.Pattern, err)
	}
	return nil
}

// Policies returns every policy in byte order of their patterns. One
// Query (another per further MB).
func (m *Metadata) Policies(ctx context.Context) ([]store.Policy, error) {
	ps := []store.Policy{}
	var e ddbExpr
	err := m.query(ctx, policiesPK, "", &e, 1<<30, func(item map[string]types.AttributeValue) error {
		var p store.Policy
		if err := json.Unmarshal([]byte(getS(item, attrPolicy)), &p); err != nil {
			return fmt.Errorf("decode policy %s: %w", getS(item, attrSK), err)
		}
		ps = append(ps, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return ps, nil
}

// DeletePolicy removes the policy of pattern. One conditional DeleteItem.
func (m *Metadata) DeletePolicy(ctx context.Context, pattern string) error {
	if err := m.deleteExisting(ctx, itemKey(policiesPK, pattern)); err != nil {
		return fmt.Errorf("delete policy %s: %w", pattern, err)
	}
	return nil
}
