package ctxsleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		d       time.Duration
		wantErr error
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"waits d", context.Background(), 20 * time.Millisecond, nil, 20 * time.Millisecond, 5 * time.Second},
		{"zero", context.Background(), 0, nil, 0, time.Second},
		{"ended context", ended, time.Hour, context.Canceled, 0, time.Second},
		{"ended context, zero", ended, 0, context.Canceled, 0, time.Second},
	}
	for _, tt := range tests {
		start := time.Now()
		err := Sleep(tt.ctx, tt.d)
		took := time.Since(start)
		if !errors.Is(err, tt.wantErr) || took < tt.atLeast || took > tt.atMost {
			t.Errorf("%s: Sleep = %v after %v, want %v after %v to %v", tt.name, err, took, tt.wantErr, tt.atLeast, tt.atMost)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sleep past the deadline = %v, want %v", err, context.DeadlineExceeded)
	}
}
