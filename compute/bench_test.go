package compute

import (
	"bytes"
	"context"
	"testing"
)

func BenchmarkTextSeq(b *testing.B) {
	in := []byte(seqText(1_000_000))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r, err := Reduce(context.Background(), &Text{R: bytes.NewReader(in), Name: "-"}, Options{Op: Mean, Workers: 1})
		if err != nil || r.Value() != 500000.5 {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeedJobFast(b *testing.B) {
	src, _ := NewRandom([]int{2000, 10000}, []int{1000, 1000}, 0, Uniform, FastRNG)
	b.SetBytes(8 * 2e7)
	for b.Loop() {
		mustReduce(b, src, Options{Op: Mean, Workers: 1})
	}
}

func BenchmarkSeedJobDask(b *testing.B) {
	src, _ := NewRandom([]int{1000, 10000}, []int{1000, 1000}, 0, Uniform, DaskRNG)
	b.SetBytes(8 * 1e7)
	for b.Loop() {
		mustReduce(b, src, Options{Op: Mean, DaskCompat: true, Workers: 1})
	}
}

func BenchmarkPairwiseSum(b *testing.B) {
	a := randData(1, npBlock, 0)
	b.SetBytes(8 * npBlock)
	for b.Loop() {
		pairwiseSum(a)
	}
}

func BenchmarkReduceBlockStats(b *testing.B) {
	a := randData(1, npBlock, 0)
	s := make([]float64, npBlock)
	b.SetBytes(8 * npBlock)
	for b.Loop() {
		reduceBlock(a, Stats.needs(), s)
	}
}

func BenchmarkMinMax(b *testing.B) {
	a := randData(1, npBlock, 0)
	b.SetBytes(8 * npBlock)
	for b.Loop() {
		minMax(a)
	}
}

func BenchmarkPairwiseSqDev(b *testing.B) {
	a := randData(1, npBlock, 0)
	b.SetBytes(8 * npBlock)
	for b.Loop() {
		pairwiseSqDev(a, 0.5)
	}
}
