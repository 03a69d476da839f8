package awsstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/store"
)

var _ store.Identities = (*Metadata)(nil)

// identitiesPK is the partition of every identity item; the sort key is
// the identity's name (see the layout in metadata.go).
const identitiesPK = "identities"

// Attribute names of an identity item. notAfter is not expires: that is
// the table's TTL attribute, and DynamoDB would delete a robot's item once
// its token expired.
const (
	attrKind     = "kind"
	attrSecret   = "secret"
	attrGrants   = "grants"
	attrPattern  = "pattern"
	attrActions  = "actions"
	attrCreated  = "created"
	attrNotAfter = "notAfter"
)

func identityKey(name string) map[string]types.AttributeValue {
	return itemKey(identitiesPK, name)
}

// identityItem returns the item of id. Created and Expires are kept to the
// second (epoch seconds).
func identityItem(id store.Identity) map[string]types.AttributeValue {
	item := identityKey(id.Name)
	item[attrKind] = avS(id.Kind)
	if id.Secret != "" {
		item[attrSecret] = avS(id.Secret)
	}
	if len(id.Grants) > 0 {
		grants := make([]types.AttributeValue, len(id.Grants))
		for i, g := range id.Grants {
			actions := make([]types.AttributeValue, len(g.Actions))
			for j, a := range g.Actions {
				actions[j] = avS(a)
			}
			grants[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				attrPattern: avS(g.Pattern),
				attrActions: &types.AttributeValueMemberL{Value: actions},
			}}
		}
		item[attrGrants] = &types.AttributeValueMemberL{Value: grants}
	}
	if !id.Created.IsZero() {
		item[attrCreated] = avN(id.Created.Unix())
	}
	if !id.Expires.IsZero() {
		item[attrNotAfter] = avN(id.Expires.Unix())
	}
	return item
}

// identityFrom returns the identity that item holds.
func identityFrom(item map[string]types.AttributeValue) (store.Identity, error) {
	id := store.Identity{
		Name:   getS(item, attrSK),
		Kind:   getS(item, attrKind),
		Secret: getS(item, attrSecret),
	}
	for _, t := range []struct {
		attr string
		to   *time.Time
	}{{attrCreated, &id.Created}, {attrNotAfter, &id.Expires}} {
		sec, err := getN(item, t.attr)
		if err != nil {
			return id, err
		}
		if _, ok := item[t.attr]; ok {
			*t.to = time.Unix(sec, 0)
		}
	}
	grants, err := getL(item, attrGrants)
	if err != nil {
		return id, err
	}
	for i, gv := range grants {
		m, ok := gv.(*types.AttributeValueMemberM)
		if !ok {
			return id, fmt.Errorf("grant %d is not a map", i)
		}
		actions, err := getL(m.Value, attrActions)
		if err != nil {
			return id, fmt.Errorf("grant %d: %w", i, err)
		}
		g := store.Grant{Pattern: getS(m.Value, attrPattern)}
		for _, a := range actions {
			s, ok := a.(*types.AttributeValueMemberS)
			if !ok {
				return id, fmt.Errorf("an action of grant %d is not a string", i)
			}
			g.Actions = append(g.Actions, s.Value)
		}
		id.Grants = append(id.Grants, g)
	}
	return id, nil
}

// PutIdentity creates or replaces the identity named id.Name. One PutItem.
func (m *Metadata) PutIdentity(ctx context.Context, id store.Identity) error {
	if id.Name == "" {
		return errors.New("put identity: empty name")
	}
	_, err := m.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &m.table,
		Item:      identityItem(id),
	})
	if err != nil {
		return fmt.Errorf("put identity %q: %w", id.Name, err)
	}
	return nil
}

// Identity returns the identity called name, or store.ErrNotFound. One
// strongly consistent GetItem (none for the empty name, which no identity
// has).
func (m *Metadata) Identity(ctx context.Context, name string) (store.Identity, error) {
	var item map[string]types.AttributeValue
	err := store.ErrNotFound
	if name != "" {
		item, err = m.getItem(ctx, identityKey(name))
	}
	var id store.Identity
	if err == nil {
		id, err = identityFrom(item)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("identity %q: %w", name, err)
	}
	return id, nil
}

// DeleteIdentity removes the identity called name, or returns
// store.ErrNotFound. One DeleteItem, conditioned on the item's existence
// (none for the empty name).
func (m *Metadata) DeleteIdentity(ctx context.Context, name string) error {
	err := store.ErrNotFound
	if name != "" {
		err = m.deleteExisting(ctx, identityKey(name))
	}
	if err != nil {
		return fmt.Errorf("delete identity %q: %w", name, err)
	}
	return nil
}

// ListIdentities returns every identity, in byte order of name. One Query
// (another for each further MB of identities).
func (m *Metadata) ListIdentities(ctx context.Context) ([]store.Identity, error) {
	var ids []store.Identity
	var e ddbExpr
	err := m.query(ctx, identitiesPK, "", &e, math.MaxInt, func(item map[string]types.AttributeValue) error {
		id, err := identityFrom(item)
		if err != nil {
			return fmt.Errorf("identity %q: %w", getS(item, attrSK), err)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return ids, nil
}
