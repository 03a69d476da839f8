package awsstore

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ddbExpr builds the expression attribute names and values of one request.
type ddbExpr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

// name returns the placeholder of attribute name.
func (e *ddbExpr) name(name string) string {
	if e.names == nil {
		e.names = map[string]string{}
	}
	p := "#" + name
	e.names[p] = name
	return p
}

// value returns a placeholder for v.
func (e *ddbExpr) value(v types.AttributeValue) string {
	if e.values == nil {
		e.values = map[string]types.AttributeValue{}
	}
	p := ":v" + strconv.Itoa(len(e.values))
	e.values[p] = v
	return p
}
