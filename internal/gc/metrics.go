package gc

import (
	"time"

	"github.com/pier-registry/pier/internal/metrics"
)

// Outcome is rep as the metrics of a run (internal/metrics) that ended
// with err after d.
func (rep Report) Outcome(err error, d time.Duration) metrics.GCRun {
	return metrics.GCRun{
		Failed: err != nil, Deleted: len(rep.Deleted), Freed: rep.Freed, Marked: len(rep.Marked),
		Expired: len(rep.Expired), LeftoverBytes: rep.LeftoverBytes, Duration: d,
	}
}
