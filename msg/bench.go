package msg

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The benchmark roles follow libzmq's perf tools: a throughput receiver
// (local_thr: PULL, the clock starts at the first message) and sender
// (remote_thr: PUSH), and a latency echo server (local_lat: REP) and client
// (remote_lat: REQ, every round trip timed).

// ThroughputResult is what a throughput receiver measured.
type ThroughputResult struct {
	Messages int           `json:"messages"`
	Size     int           `json:"size"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// MsgPerSec is messages per second.
func (r ThroughputResult) MsgPerSec() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// MBPerSec is payload megabytes (10^6) per second.
func (r ThroughputResult) MBPerSec() float64 { return r.MsgPerSec() * float64(r.Size) / 1e6 }

// LatencyResult is what a latency client measured.
type LatencyResult struct {
	RoundTrips int           `json:"round_trips"`
	Size       int           `json:"size"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Mean       time.Duration `json:"mean_ns"`
}

// ReceiveThroughput receives n messages on s (a PULL) and times them from
// the first.
func ReceiveThroughput(ctx context.Context, s *Socket, n int) (ThroughputResult, error) {
	first, err := s.Recv(ctx)
	if err != nil {
		return ThroughputResult{}, err
	}
	start := time.Now()
	size := len(first[0])
	Release(first)
	for i := 1; i < n; i++ {
		m, err := s.Recv(ctx)
		if err != nil {
			return ThroughputResult{}, fmt.Errorf("after %d messages: %w", i, err)
		}
		Release(m)
	}
	return ThroughputResult{Messages: n - 1, Size: size, Elapsed: time.Since(start)}, nil
}

// SendThroughput sends n messages of size bytes on s (a PUSH).
func SendThroughput(ctx context.Context, s *Socket, n, size int) error {
	m := NewMsg(make([]byte, size))
	for i := 0; i < n; i++ {
		if ok, err := s.TrySend(m); err != nil {
			return err
		} else if !ok {
			if err := s.Send(ctx, m); err != nil {
				return fmt.Errorf("after %d messages: %w", i, err)
			}
		}
	}
	return nil
}

// Echo answers n requests on s (a REP) with the request itself.
func Echo(ctx context.Context, s *Socket, n int) error {
	for i := 0; i < n; i++ {
		m, err := s.Recv(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(ctx, m); err != nil {
			return err
		}
		Release(m) // Send copied it
	}
	return nil
}

// MeasureLatency times n round trips of size-byte requests on s (a REQ).
func MeasureLatency(ctx context.Context, s *Socket, n, size int) (LatencyResult, error) {
	if n <= 0 {
		return LatencyResult{}, fmt.Errorf("msg: latency needs at least one round trip")
	}
	m := NewMsg(make([]byte, size))
	times := make([]time.Duration, n)
	var total time.Duration
	for i := range times {
		start := time.Now()
		if err := s.Send(ctx, m); err != nil {
			return LatencyResult{}, err
		}
		r, err := s.Recv(ctx)
		if err != nil {
			return LatencyResult{}, err
		}
		times[i] = time.Since(start)
		Release(r)
		total += times[i]
	}
	slices.Sort(times)
	return LatencyResult{
		RoundTrips: n,
		Size:       size,
		P50:        times[n/2],
		P99:        times[min(n-1, n*99/100)],
		Mean:       total / time.Duration(n),
	}, nil
}
