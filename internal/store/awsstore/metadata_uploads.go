package awsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/store"
)

// sessionItem returns the item of session u. Expires is kept to the second
// (epoch seconds: the TTL attribute).
func sessionItem(u store.Upload) map[string]types.AttributeValue {
	item := itemKey(sessionPK(u.ID), sessionSK)
	if u.Repository != "" {
		item[attrRepository] = avS(u.Repository)
	}
	item[attrOffset] = avN(u.Offset)
	if len(u.Hash) > 0 {
		item[attrHash] = avB(u.Hash)
	}
	if len(u.State) > 0 {
		item[attrState] = avB(u.State)
	}
	item[attrVersion] = avN(u.Version)
	if !u.Expires.IsZero() {
		item[attrExpires] = avN(u.Expires.Unix())
	}
	if u.Owner != "" {
		item[attrOwner] = avS(u.Owner)
	}
	return item
}

// sessionFrom returns session id that item holds, and whether it has
// expired by now.
func sessionFrom(item map[string]types.AttributeValue, id string, now time.Time) (store.Upload, bool, error) {
	u := store.Upload{
		ID:         id,
		Repository: getS(item, attrRepository),
		Hash:       getB(item, attrHash),
		State:      getB(item, attrState),
		Owner:      getS(item, attrOwner),
	}
	var err error
	if u.Offset, err = getN(item, attrOffset); err != nil {
		return u, false, err
	}
	if u.Version, err = getN(item, attrVersion); err != nil {
		return u, false, err
	}
	expires, err := getN(item, attrExpires)
	if err != nil {
		return u, false, err
	}
	if expires == 0 {
		return u, false, nil
	}
	u.Expires = time.Unix(expires, 0)
	return u, !now.Before(u.Expires), nil
}

// CreateUpload records a new upload session, or returns store.ErrConflict
// when a session with id u.ID exists (also an expired one that DynamoDB
// has not removed yet) and is not u (a retry). One PutItem.
func (m *Metadata) CreateUpload(ctx context.Context, u store.Upload) error {
	if u.ID == "" {
		return errors.New("create upload: empty id")
	}
	var e ddbExpr
	_, err := m.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &m.table,
		Item:                                sessionItem(u),
		ConditionExpression:                 aws.String("attribute_not_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames:            e.names,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if old, _, derr := sessionFrom(ccf.Item, u.ID, time.Now()); derr == nil && store.SameUpload(old, u) {
			// The SDK retried a PutItem that DynamoDB had applied (its
			// answer was lost): the session is the one created.
			return nil
		}
		err = fmt.Errorf("session exists: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// Upload returns upload session id, or store.ErrNotFound when it does not
// exist or has expired (DynamoDB removes expired items only eventually).
// One GetItem.
func (m *Metadata) Upload(ctx context.Context, id string) (store.Upload, error) {
	item, err := m.getItem(ctx, itemKey(sessionPK(id), sessionSK))
	var u store.Upload
	if err == nil {
		var expired bool
		u, expired, err = sessionFrom(item, id, time.Now())
		if err == nil && expired {
			err = fmt.Errorf("expired at %s: %w", u.Expires.UTC().Format(time.RFC3339), store.ErrNotFound)
		}
	}
	if err != nil {
		return store.Upload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

// UpdateUpload replaces session u.ID with u if the stored session has
// version u.Version-1 and has not expired. It returns store.ErrConflict
// when the version is another, and store.ErrNotFound when the session does
// not exist or has expired. One conditional PutItem; a failed condition
// returns the stored item, which tells the two apart.
func (m *Metadata) UpdateUpload(ctx context.Context, u store.Upload) error {
	if u.ID == "" {
		return errors.New("update upload: empty id")
	}
	now := time.Now()
	var e ddbExpr
	cond := e.name(attrVersion) + " = " + e.value(avN(u.Version-1)) +
		" AND (attribute_not_exists(" + e.name(attrExpires) + ") OR " + e.name(attrExpires) + " > " + e.value(avN(now.Unix())) + ")"
	_, err := m.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &m.table,
		Item:                                sessionItem(u),
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		switch old, expired, derr := sessionFrom(ccf.Item, u.ID, now); {
		case len(ccf.Item) == 0:
			err = store.ErrNotFound
		case derr != nil:
			err = derr
		case expired:
			err = fmt.Errorf("expired at %s: %w", old.Expires.UTC().Format(time.RFC3339), store.ErrNotFound)
		case store.SameUpload(old, u):
			// The SDK retried a PutItem that DynamoDB had applied (its
			// answer was lost): the session is what this update wrote.
			err = nil
		default:
			err = fmt.Errorf("stored version %d, update to %d: %w", old.Version, u.Version, store.ErrConflict)
		}
	}
	if err != nil {
		return fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUpload removes upload session id. Removing a missing session is
// not an error. One DeleteItem.
func (m *Metadata) DeleteUpload(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	_, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &m.table,
		Key:       itemKey(sessionPK(id), sessionSK),
	})
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}
