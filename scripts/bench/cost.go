package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Published AWS prices, us-east-1, first tiers, as of 2026 (their sources
// are listed in docs/bench/README.md). Pier's function runs on arm64 with
// template.yaml's default memory, 512 MB.
const (
	priceHTTPAPI       = 1.00 / 1e6    // API Gateway HTTP API, per request metered in 512 KB increments
	priceFunctionURL   = 0             // Lambda function URL: no charge of its own, only Lambda's
	priceLambdaRequest = 0.20 / 1e6    // Lambda, per invocation
	priceLambdaGBs     = 0.0000133334  // Lambda arm64, per GB-second (billed per ms)
	lambdaMemoryGB     = 512.0 / 1024  // template.yaml's MemorySize default
	priceS3Tier1       = 0.005 / 1000  // S3 PUT, COPY, POST, LIST
	priceS3Tier2       = 0.0004 / 1000 // S3 GET, HEAD and all other requests
	priceRRU           = 0.125 / 1e6   // DynamoDB on-demand read request unit
	priceWRU           = 0.625 / 1e6   // DynamoDB on-demand write request unit
	priceS3GBMonth     = 0.023         // S3 Standard storage
	priceDynamoGBMonth = 0.25          // DynamoDB Standard storage
	priceECRGBMonth    = 0.10          // ECR private repository storage
	awsDynamoLatencyMS = 5.0           // assumed in-region latency of a DynamoDB request
	awsS3LatencyMS     = 20.0          // assumed in-region latency of an S3 request
)

// s3Tier is how S3 bills an action: 1 (PUT, COPY, POST, LIST), 2 (GET,
// HEAD, other) or 0 (DELETE and CANCEL, free). DeleteObjects is a POST;
// whether S3 bills it as a delete (free) is not stated on the pricing
// page, so it is counted as tier 1: an upper bound.
func s3Tier(action string) int {
	switch strings.TrimSuffix(action, " (presigned)") {
	case "PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
		"CompleteMultipartUpload", "ListObjectsV2", "ListObjects", "ListMultipartUploads", "ListParts",
		"DeleteObjects", "CreateBucket":
		return 1
	case "DeleteObject", "AbortMultipartUpload":
		return 0
	}
	return 2
}

// frontDoor is how requests reach a Lambda target: the kind of the local
// front (PIER_LOCAL_API_KIND) and what AWS charges per request for it.
type frontDoor struct {
	kind  string  // http or url
	name  string  // as the cost table names it
	price float64 // per request, metered per 512 KB
}

// lambdaTargets are the targets on the Lambda path, by front door: the
// same function, billed the same but for the front door's own fee.
var lambdaTargets = map[string]frontDoor{
	"pier-lambda":     {kind: "http", name: "API Gateway", price: priceHTTPAPI},
	"pier-lambda-url": {kind: "url", name: "function URL", price: priceFunctionURL},
}

// lambdaOrder is the order of the Lambda targets in tables.
var lambdaOrder = []string{"pier-lambda", "pier-lambda-url"}

// bill is the cost of one operation, in dollars, by service.
type bill struct {
	front, lambda, s3, dynamo float64 // front: the front door's fee (API Gateway), 0 off the Lambda path
	lambdaAWS                 float64 // Lambda with AWS request latency added (see cost)
}

func (b bill) total() float64 { return b.front + b.lambda + b.s3 + b.dynamo }

// atAWS is the total with Lambda billed at AWS latency (lambdaAWS).
func (b bill) atAWS() float64 { return b.total() - b.lambda + b.lambdaAWS }

// cost prices the samples of one phase of a target per operation. On the
// Lambda path (lambdaTargets) the front door and Lambda are billed too.
//
// Lambda is billed by the durations the runtime reported here, on
// loopback with local stand-ins for S3 and DynamoDB, which answer faster
// than AWS does. lambdaAWS adds awsDynamoLatencyMS for every DynamoDB
// request and awsS3LatencyMS for every S3 request the function made, as if
// each waited in turn: a pessimistic estimate of the duration on AWS.
func cost(ss []*sample, target string) bill {
	fd, serverless := lambdaTargets[target]
	var b bill
	ops := 0
	for _, s := range ss {
		ops += s.ops
		for a, n := range s.s3 {
			switch s3Tier(a) {
			case 1:
				b.s3 += float64(n) * priceS3Tier1
			case 2:
				b.s3 += float64(n) * priceS3Tier2
			}
		}
		b.dynamo += s.rru*priceRRU + s.wru*priceWRU
		if !serverless {
			continue
		}
		b.front += float64(s.metered) * fd.price
		perMS := lambdaMemoryGB * priceLambdaGBs / 1000
		inv := float64(max(s.lambda.n, s.api))
		b.lambda += inv*priceLambdaRequest + s.lambda.billedMS*perMS
		fnDynamo, fnS3 := 0, 0
		for _, n := range s.ddb {
			fnDynamo += n
		}
		for a, n := range s.s3 {
			if !strings.HasSuffix(a, "(presigned)") {
				fnS3 += n
			}
		}
		wait := float64(fnDynamo)*awsDynamoLatencyMS + float64(fnS3)*awsS3LatencyMS
		b.lambdaAWS += inv*priceLambdaRequest + (s.lambda.billedMS+math.Ceil(wait))*perMS
	}
	if ops == 0 {
		return bill{}
	}
	f := 1 / float64(ops)
	return bill{b.front * f, b.lambda * f, b.s3 * f, b.dynamo * f, b.lambdaAWS * f}
}

// perMillion formats a cost per operation as dollars per million.
func perMillion(c float64) string {
	d := c * 1e6
	switch {
	case d == 0:
		return "$0"
	case d >= 100:
		return fmt.Sprintf("$%.0f", d)
	case d >= 1:
		return fmt.Sprintf("$%.2f", d)
	}
	return fmt.Sprintf("$%.3f", d)
}

// costReport writes the cost model: dollars per million operations of
// each phase, per target, at the prices above, and what storage costs.
func costReport(b *strings.Builder, r *results) {
	has := func(t string) bool { return slices.Contains(r.targets, t) }
	b.WriteString("## Cost per million operations (AWS us-east-1 prices)\n\n")
	b.WriteString(`Request counts of this run priced at published AWS prices (first tiers; sources in README.md):
API Gateway HTTP API $1.00 per million requests, metered per 512 KB; a Lambda function URL no charge of its own;
Lambda $0.20 per million invocations and
$0.0000133334 per GB-second (arm64, 512 MB as in template.yaml), billed by the durations the runtime reported here;
S3 $0.005 per 1,000 PUT, COPY, POST and LIST requests (DeleteObjects counted among them: an upper bound), $0.0004 per 1,000
GET and HEAD; DynamoDB on-demand $0.125 per million read and $0.625 per million write request units, as DynamoDB Local
reported them consumed. **pier-lambda** (API Gateway HTTP API) and **pier-lambda-url** (function URL) are the whole
bill of the serverless deployment behind each front door; their columns *at AWS latency* add
5 ms per DynamoDB and 20 ms per S3 request of the function to the billed Lambda duration (local stand-ins answer faster
than AWS). **pier-aws** and the Distribution targets show S3 and DynamoDB only: the machines that run them are billed
on top, whatever the traffic. ECR bills no request: pushes and pulls are free, storage is $0.10 per GB-month. Data
transfer out of AWS costs the same $0.09/GB from S3, from Lambda and from ECR and is left out; in-region transfer is free.

`)
	var cols []string
	for _, t := range append(slices.Clone(lambdaOrder), "pier-aws", "distribution-s3", "distribution-s3-nocache") {
		if has(t) {
			cols = append(cols, t)
		}
	}
	b.WriteString("| operation |")
	n := 1
	for _, t := range cols {
		if fd, ok := lambdaTargets[t]; ok {
			fmt.Fprintf(b, " %s (%s + Lambda + S3 + DynamoDB) | %s at AWS latency |", t, fd.name, t)
			n += 2
			continue
		}
		b.WriteString(" " + t + " (S3 + DynamoDB only) |")
		n++
	}
	b.WriteString(" ECR |\n|" + strings.Repeat(" --- |", n+1) + "\n")
	row := func(name string, of func(t string) []*sample) {
		fmt.Fprintf(b, "| %s |", name)
		for _, t := range cols {
			fd, serverless := lambdaTargets[t]
			ss := of(t)
			if len(ss) == 0 {
				b.WriteString(" – |")
				if serverless {
					b.WriteString(" – |")
				}
				continue
			}
			c := cost(ss, t)
			if serverless {
				fmt.Fprintf(b, " **%s**: %s %s, Lambda %s, S3 %s, DynamoDB %s | %s |", perMillion(c.total()),
					fd.name, perMillion(c.front), perMillion(c.lambda), perMillion(c.s3), perMillion(c.dynamo),
					perMillion(c.atAWS()))
				continue
			}
			fmt.Fprintf(b, " %s |", perMillion(c.total()))
		}
		b.WriteString(" $0 |\n")
	}
	for _, ph := range r.phases {
		row(ph, func(t string) []*sample { return r.data[ph][t] })
	}
	b.WriteString("\n")
	for _, t := range lambdaOrder {
		if inv := pullInvocations(r, t); inv.n > 0 {
			fmt.Fprintf(b, "Lambda durations during the small-image pulls on %s: %d invocations, %.2f ms on average (billed %.2f ms).\n\n",
				t, inv.n, inv.ms/float64(inv.n), inv.billedMS/float64(inv.n))
		}
	}
	fmt.Fprintf(b, "**Storage, per GB-month:** Pier $%.3f (S3 Standard; blobs are stored once per registry, whatever the "+
		"repositories that link them) plus its DynamoDB items at $%.2f per GB (about 1 KB per tag, blob link or manifest "+
		"record, bodies over 6 KiB in S3); ECR $%.2f.\n\n", priceS3GBMonth, priceDynamoGBMonth, priceECRGBMonth)
	for _, t := range lambdaOrder {
		monthExample(b, r, t)
	}
}

// monthExample writes what a month of small-image pushes and pulls and
// of storage costs on a Lambda target, against ECR.
func monthExample(b *strings.Builder, r *results, t string) {
	push, pull := r.data[phaseSmallPush()][t], r.data[phaseSmallPull()][t]
	if len(push) == 0 || len(pull) == 0 {
		return
	}
	apush, apull := cost(push, t).atAWS(), cost(pull, t).atAWS()
	const gb, pulls, pushes = 100.0, 1e6, 1e5
	pier := gb*priceS3GBMonth + pulls*apull + pushes*apush
	ecr := gb * priceECRGBMonth
	fmt.Fprintf(b, "**A month on %s (%s), for example:** %.0f GB stored, %.0f million pulls and %.0f thousand pushes of small images "+
		"(at AWS latency): Pier $%.2f (storage $%.2f, pulls $%.2f, pushes $%.2f), ECR $%.2f (storage). ",
		t, lambdaTargets[t].name, gb, pulls/1e6, pushes/1e3, pier, gb*priceS3GBMonth, pulls*apull, pushes*apush, ecr)
	perGB := priceECRGBMonth - priceS3GBMonth
	fmt.Fprintf(b, "Each GB stored saves $%.3f a month against ECR, the price of %.0f thousand small-image pulls on Pier: "+
		"Pier costs less than ECR while a registry serves fewer than about %.0f thousand pulls a month per GB it stores.\n\n",
		perGB, perGB/apull/1e3, perGB/apull/1e3)
}

// pullInvocations sums the function invocations of a target's small-image
// pulls.
func pullInvocations(r *results, t string) invocations {
	var inv invocations
	for _, s := range r.data[phaseSmallPull()][t] {
		inv.add(s.lambda)
	}
	return inv
}
