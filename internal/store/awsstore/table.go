package awsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/ctxsleep"
)

// CreateTable creates the table when it does not exist (on-demand
// capacity, keys pk and sk), waits until it is active, and turns on TTL on
// the attribute expires. A table that exists is left as it is, its TTL
// setting aside. It is for local servers, tests and LocalStack; in AWS the
// template creates the table.
func (m *Metadata) CreateTable(ctx context.Context) error {
	_, err := m.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &m.table})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = m.client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   &m.table,
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: created meanwhile
			return fmt.Errorf("create table %s: %w", m.table, err)
		}
	case err != nil:
		return fmt.Errorf("describe table %s: %w", m.table, err)
	}
	if err := m.waitActive(ctx); err != nil {
		return err
	}

	ttl, err := m.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &m.table})
	if err != nil {
		return fmt.Errorf("describe TTL of table %s: %w", m.table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == attrExpires &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = m.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &m.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on table %s: %w", m.table, err)
	}
	return nil
}

// tableActiveWait bounds the wait for a new table to become active.
const tableActiveWait = 5 * time.Minute

// waitActive waits until the table is active.
func (m *Metadata) waitActive(ctx context.Context) error {
	deadline := time.Now().Add(tableActiveWait)
	delay := 50 * time.Millisecond
	for {
		out, err := m.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &m.table})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return fmt.Errorf("describe table %s: %w", m.table, err)
		case out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s: not active after %s", m.table, tableActiveWait)
		}
		if err := ctxsleep.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("wait for table %s: %w", m.table, err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// DeleteTable deletes the table and everything in it. It is for tests.
func (m *Metadata) DeleteTable(ctx context.Context) error {
	if _, err := m.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &m.table}); err != nil {
		return fmt.Errorf("delete table %s: %w", m.table, err)
	}
	return nil
}
