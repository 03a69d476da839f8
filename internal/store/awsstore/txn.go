package awsstore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxTransactItems is the most actions one TransactWriteItems may hold.
const maxTransactItems = 100

// transact runs one TransactWriteItems.
func (m *Metadata) transact(ctx context.Context, items []types.TransactWriteItem) error {
	_, err := m.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// txAction is an action of a transaction, with what the failure of its
// condition tells.
type txAction struct {
	item types.TransactWriteItem
	kind actionKind
	tag  string // the tag it writes
}

// actionKind tells what the failure of a txAction's condition means.
type actionKind int

const (
	actPlain     actionKind = iota // no condition, or one that tells nothing
	actManifest                    // the write of the manifest item (its old item on failure)
	actGuard                       // a check of the manifest item in a split write
	actTag                         // the Put of a tag pushed (its old item on failure)
	actCopy                        // the Put of a copy in a tag that names the manifest
	actRefDelete                   // the Delete of a stale ref
	actTagDelete                   // the Delete of a tag that names the manifest
	actMark                        // the Delete of a pending gc mark (gc.go)
)

// actions returns the number of actions in groups.
func actions(groups [][]txAction) int {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	return n
}

// fill appends to tx the first of groups that fit in one transaction with
// it, each whole, and returns it and the groups left.
func fill(tx []txAction, groups [][]txAction) ([]txAction, [][]txAction) {
	for len(groups) > 0 && len(tx)+len(groups[0]) <= maxTransactItems {
		tx = append(tx, groups[0]...)
		groups = groups[1:]
	}
	return tx, groups
}

// pack packs groups, each whole, into transactions that start with guard.
func pack(guard txAction, groups [][]txAction) [][]txAction {
	var txs [][]txAction
	for len(groups) > 0 {
		var tx []txAction
		tx, groups = fill([]txAction{guard}, groups)
		txs = append(txs, tx)
	}
	return txs
}

// put returns a Put of item.
func (m *Metadata) put(item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &m.table, Item: item}}
}

// delete returns a Delete of the item of key.
func (m *Metadata) delete(key map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: &m.table, Key: key}}
}

// transactActions runs one TransactWriteItems of tx.
func (m *Metadata) transactActions(ctx context.Context, tx []txAction) error {
	items := make([]types.TransactWriteItem, len(tx))
	for i, a := range tx {
		items[i] = a.item
	}
	return m.transact(ctx, items)
}
