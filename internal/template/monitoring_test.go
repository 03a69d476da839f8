package template

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"

	"github.com/pier-registry/pier/internal/metrics"
)

// metricsNamespace is the CloudWatch namespace the functions write their
// EMF metrics to (PIER_METRICS_NAMESPACE), and the one the dashboard and
// the alarms read.
const metricsNamespace = "Pier/${AWS::StackName}"

// emfMetric returns the metric of that name the code emits.
func emfMetric(name string) (metrics.Metric, bool) {
	i := slices.IndexFunc(metrics.EMFMetrics(), func(m metrics.Metric) bool { return m.Name == name })
	if i < 0 {
		return metrics.Metric{}, false
	}
	return metrics.EMFMetrics()[i], true
}

// checkPierMetric checks that the code emits metric name with exactly the
// dimensions dims (name to value).
func checkPierMetric(t *testing.T, where, name string, dims map[string]string) {
	t.Helper()
	m, ok := emfMetric(name)
	if !ok {
		t.Errorf("%s: metric %s is not one the code emits (metrics.EMFMetrics)", where, name)
		return
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range dims {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.ContainsFunc(m.Dimensions, func(set []string) bool { return slices.Equal(slices.Sorted(slices.Values(set)), names) }) {
		t.Errorf("%s: %s with dimensions %v, which the code never emits (it emits %v)", where, name, names, m.Dimensions)
	}
	for k, v := range dims {
		var known []string
		switch k {
		case metrics.DimensionKind:
			known = metrics.Kinds
		case metrics.DimensionOutcome:
			known = metrics.CopyOutcomes
		}
		if !slices.Contains(known, v) {
			t.Errorf("%s: %s=%s is no value the code emits (%v)", where, k, v, known)
		}
	}
}

// dashboardMetric is one row of a metric widget: namespace, name,
// dimension pairs, then an optional map of options; or an expression.
type dashboardMetric struct {
	namespace, name string
	dims            map[string]string
	opts            map[string]any
}

func parseRow(t *testing.T, row []any) dashboardMetric {
	t.Helper()
	var m dashboardMetric
	if n := len(row); n > 0 {
		if o, ok := row[n-1].(map[string]any); ok {
			m.opts, row = o, row[:n-1]
		}
	}
	if len(row) == 0 {
		return m // an expression
	}
	if len(row) < 2 || len(row)%2 != 0 {
		t.Fatalf("dashboard metric row %v: want namespace, name and dimension pairs (no ... shorthand)", row)
	}
	m.namespace, m.name = fmt.Sprint(row[0]), fmt.Sprint(row[1])
	m.dims = map[string]string{}
	for i := 2; i < len(row); i += 2 {
		m.dims[fmt.Sprint(row[i])] = fmt.Sprint(row[i+1])
	}
	return m
}

// TestDashboard: the dashboard's body is JSON that CloudWatch takes
// (widgets on its 24-column grid), its widgets show requests, errors,
// latency, storage and estimated cost, and every metric of Pier's
// namespace that it names is one the code emits, with the same
// dimensions; the AWS metrics are those of this stack's resources.
func TestDashboard(t *testing.T) {
	tpl := load(t, nil)
	d, err := tpl.GetCloudWatchDashboardWithName("Dashboard")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Widgets []struct {
			Type                string
			X, Y, Width, Height int
			Properties          struct {
				Title, Region, Markdown string
				Metrics                 [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(d.DashboardBody), &body); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v\n%s", err, d.DashboardBody)
	}
	var titles []string
	requestKinds := map[string]bool{}
	for i, w := range body.Widgets {
		where := fmt.Sprintf("widget %d (%s)", i, w.Properties.Title)
		if w.X < 0 || w.Width <= 0 || w.X+w.Width > 24 || w.Height <= 0 {
			t.Errorf("%s: at x=%d width %d: outside the 24-column grid", where, w.X, w.Width)
		}
		switch w.Type {
		case "text":
			if w.Properties.Markdown == "" {
				t.Errorf("%s: a text widget without markdown", where)
			}
			continue
		case "metric":
		default:
			t.Errorf("%s: type %q", where, w.Type)
			continue
		}
		titles = append(titles, strings.ToLower(w.Properties.Title))
		if w.Properties.Region != "${AWS::Region}" {
			t.Errorf("%s: region %q, want the stack's", where, w.Properties.Region)
		}
		ids := map[string]bool{}
		var exprs []string
		for _, row := range w.Properties.Metrics {
			m := parseRow(t, row)
			if id, ok := m.opts["id"].(string); ok {
				ids[id] = true
			}
			if e, ok := m.opts["expression"].(string); ok {
				exprs = append(exprs, e)
				continue
			}
			switch m.namespace {
			case metricsNamespace:
				checkPierMetric(t, where, m.name, m.dims)
				if m.name == "Requests" {
					requestKinds[m.dims[metrics.DimensionKind]] = true
				}
			case "AWS/Lambda":
				if fn := m.dims["FunctionName"]; fn != "${ApiFunction}" && fn != "${GcFunction}" || len(m.dims) != 1 {
					t.Errorf("%s: AWS/Lambda %s of %v, not of this stack's functions", where, m.name, m.dims)
				}
			case "AWS/S3":
				if m.dims["BucketName"] != "${Bucket}" || m.dims["StorageType"] == "" {
					t.Errorf("%s: AWS/S3 %s of %v, not of this stack's bucket", where, m.name, m.dims)
				}
			case "AWS/Billing":
				if m.name != "EstimatedCharges" || m.opts["region"] != "us-east-1" {
					t.Errorf("%s: AWS/Billing %s in %v: billing metrics are EstimatedCharges, in us-east-1 alone", where, m.name, m.opts["region"])
				}
			default:
				t.Errorf("%s: namespace %q: want %s (the functions' PIER_METRICS_NAMESPACE) or an AWS one", where, m.namespace, metricsNamespace)
			}
		}
		for _, e := range exprs {
			for _, id := range regexp.MustCompile(`\b[a-z][a-zA-Z0-9_]*\b`).FindAllString(e, -1) {
				if !ids[id] {
					t.Errorf("%s: expression %q names %s, no metric of the widget", where, e, id)
				}
			}
		}
	}
	for _, want := range []string{"requests", "errors", "latency", "storage", "cost"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no widget shows %s (titles: %q)", want, titles)
		}
	}
	for _, k := range metrics.Kinds {
		if !requestKinds[k] {
			t.Errorf("the requests of kind %s are on no widget", k)
		}
	}
}

// alarmMetric is a metric an alarm reads, by its own fields or by a
// metric data query.
type alarmMetric struct {
	namespace, name, stat string
	period                int
	dims                  map[string]string
}

func alarmMetrics(a *cloudwatch.Alarm) (ms []alarmMetric, exprs []string) {
	dims := func(ds []cloudwatch.Alarm_Dimension) map[string]string {
		m := map[string]string{}
		for _, d := range ds {
			m[d.Name] = d.Value
		}
		return m
	}
	if a.MetricName != nil {
		ms = append(ms, alarmMetric{deref(a.Namespace), deref(a.MetricName), deref(a.Statistic), derefInt(a.Period), dims(a.Dimensions)})
	}
	for _, q := range a.Metrics {
		if q.Expression != nil {
			exprs = append(exprs, *q.Expression)
		}
		if s := q.MetricStat; s != nil {
			ms = append(ms, alarmMetric{deref(s.Metric.Namespace), deref(s.Metric.MetricName), s.Stat, s.Period, dims(s.Metric.Dimensions)})
		}
	}
	return ms, exprs
}

// TestAlarms: the alarms of the issue watch the metrics they say, with
// the thresholds they say: the 5xx rate of Pier's own metrics, Lambda's
// throttles and errors, a duration near the function's timeout, failed
// gc runs (its report and its invocations); every metric of Pier's
// namespace is one the code emits.
func TestAlarms(t *testing.T) {
	tpl := load(t, nil)
	api := function(t, tpl, apiFunction)
	tests := []struct {
		name      string
		metrics   []string // namespace/name/FunctionName (or "") of each metric read
		compare   string
		threshold float64
	}{
		{"ServerErrorAlarm", []string{metricsNamespace + "/ServerErrors/", metricsNamespace + "/Requests/"}, "GreaterThanThreshold", 5},
		{"ThrottleAlarm", []string{"AWS/Lambda/Throttles/${ApiFunction}"}, "GreaterThanThreshold", 0},
		{"LambdaErrorAlarm", []string{"AWS/Lambda/Errors/${ApiFunction}"}, "GreaterThanThreshold", 0},
		// 90% of the timeout, in milliseconds.
		{"DurationAlarm", []string{"AWS/Lambda/Duration/${ApiFunction}"}, "GreaterThanOrEqualToThreshold", float64(derefInt(api.Timeout)) * 1000 * 0.9},
		{"GcFailureAlarm", []string{metricsNamespace + "/GCFailures/", "AWS/Lambda/Errors/${GcFunction}"}, "GreaterThanThreshold", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tpl.GetCloudWatchAlarmWithName(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if a.ComparisonOperator != tt.compare || deref(a.Threshold) != tt.threshold {
				t.Errorf("%s %v, want %s %v", a.ComparisonOperator, deref(a.Threshold), tt.compare, tt.threshold)
			}
			if deref(a.TreatMissingData) != "notBreaching" {
				t.Errorf("TreatMissingData %q: no traffic is no alarm", deref(a.TreatMissingData))
			}
			if a.AlarmDescription == nil || *a.AlarmDescription == "" {
				t.Error("no AlarmDescription: the notification says nothing")
			}
			ms, exprs := alarmMetrics(a)
			var got []string
			for _, m := range ms {
				got = append(got, m.namespace+"/"+m.name+"/"+m.dims["FunctionName"])
				if m.namespace == metricsNamespace {
					checkPierMetric(t, tt.name, m.name, m.dims)
				}
				if m.period <= 0 || m.stat == "" {
					t.Errorf("%s: period %d, statistic %q", m.name, m.period, m.stat)
				}
			}
			if !reflect.DeepEqual(got, tt.metrics) {
				t.Errorf("reads %v, want %v", got, tt.metrics)
			}
			if len(ms) > 1 && len(exprs) != 1 {
				t.Errorf("%d metrics and %d expressions: want one expression over them", len(ms), len(exprs))
			}
			if got := len(a.AlarmActions) + len(a.OKActions); got != 0 {
				t.Errorf("without AlarmEmail, %d actions: want none (no topic)", got)
			}
		})
	}
}

// TestAlarmEmail: with AlarmEmail, an SNS topic with that address's email
// subscription is made and every alarm notifies it when it fires and
// when it clears; without, no topic (TestAlarms: no actions).
func TestAlarmEmail(t *testing.T) {
	tpl := load(t, map[string]any{"AlarmEmail": "ops@example.com"})
	topic, err := tpl.GetSNSTopicWithName("AlarmTopic")
	if err != nil {
		t.Fatal(err)
	}
	if len(topic.Subscription) != 1 || topic.Subscription[0].Protocol != "email" || topic.Subscription[0].Endpoint != "ops@example.com" {
		t.Errorf("AlarmTopic's subscriptions %+v, want one email to ops@example.com", topic.Subscription)
	}
	n := 0
	for name, r := range tpl.Resources {
		a, ok := r.(*cloudwatch.Alarm)
		if !ok {
			continue
		}
		n++
		for _, actions := range [][]string{a.AlarmActions, a.OKActions} {
			if !slices.Equal(actions, []string{"${AlarmTopic}"}) {
				t.Errorf("%s: actions %v, want the topic", name, actions)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d alarms, want 5", n)
	}
}
