package awsstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/ctxsleep"
	"github.com/pier-registry/pier/internal/store"
)

// maxRaceAttempts bounds the attempts of a write that lost a race (a condition
// that failed because of a concurrent write, or a transaction conflict).
const maxRaceAttempts = 5

// maxBatchRetries bounds the retries of the unprocessed part of a batch.
const maxBatchRetries = 8

// errLostRace marks an attempt that lost a race and may be tried again.
var errLostRace = errors.New("lost a race")

// isConditionFailed reports whether err is a failed condition of a
// single-item write.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancelReasons returns the cancellation reasons of a canceled transaction, or
// nil when err is not one.
func cancelReasons(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	if tce.CancellationReasons == nil {
		return []types.CancellationReason{}
	}
	return tce.CancellationReasons
}

// Cancellation reason codes.
const (
	reasonConditionFailed = "ConditionalCheckFailed"
	reasonConflict        = "TransactionConflict"
)

// cancelReason returns the cancellation code of action i, or "".
func cancelReason(reasons []types.CancellationReason, i int) string {
	if i < len(reasons) {
		return aws.ToString(reasons[i].Code)
	}
	return ""
}

// lostRace reports whether a transaction canceled for reasons lost a race
// (a failed condition or a conflict with another transaction).
func lostRace(reasons []types.CancellationReason) bool {
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonConditionFailed, reasonConflict:
			return true
		}
	}
	return false
}

// ddbBackoff waits before retry attempt (0 for the first retry).
func ddbBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(10<<min(attempt, 6)) * time.Millisecond
	return ctxsleep.Sleep(ctx, d/2+rand.N(d/2+1))
}

// retryLost calls once until it returns anything but errLostRace: at once
// after an attempt that learned what failed it (up to maxLearnedAttempts
// attempts in all), after a backoff otherwise (up to maxRaceAttempts
// attempts so lost); then it returns store.ErrConflict.
func retryLost(ctx context.Context, once func() (learned bool, err error)) error {
	lost := 0
	for attempt := 1; ; attempt++ {
		learned, err := once()
		if !errors.Is(err, errLostRace) {
			return err
		}
		if !learned {
			lost++
		}
		if lost >= maxRaceAttempts || attempt >= maxLearnedAttempts {
			return fmt.Errorf("lost %d races with other writers: %w", attempt, store.ErrConflict)
		}
		if !learned {
			if err := ddbBackoff(ctx, lost-1); err != nil {
				return err
			}
		}
	}
}

// maxLearnedAttempts bounds the attempts of a write whose conditions keep
// failing on items that other writers change (each failure is another
// writer's success).
const maxLearnedAttempts = 4 * maxRaceAttempts
