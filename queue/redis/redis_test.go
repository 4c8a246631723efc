package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/brokertest"
	"github.com/dsys-dev/dsys/queue/redis"
)

// prefix returns a key prefix of the test's own and deletes every key
// under it when the test ends.
func prefix(t testing.TB, url string) string {
	t.Helper()
	p := testenv.UniqueName(t, "dsystest") + ":"
	t.Cleanup(func() { cleanKeys(t, url, p+"*") })
	return p
}

// cleanKeys deletes the keys matching pattern on url's database.
func cleanKeys(t testing.TB, url, pattern string) {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var ks []string
	for iter.Next(ctx) {
		ks = append(ks, iter.Val())
	}
	if len(ks) > 0 {
		_ = rdb.Del(ctx, ks...).Err()
	}
}

func dial(t testing.TB, url string, opts redis.Options) *redis.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := redis.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("redis.Dial: %v", err)
	}
	return tr
}

func TestConformance(t *testing.T) {
	url := testenv.Redis(t)
	p := prefix(t, url)
	brokertest.Run(t, func(t testing.TB) broker.Transport {
		return dial(t, url, redis.Options{KeyPrefix: p, ResultExpires: 10 * time.Minute})
	})
}
