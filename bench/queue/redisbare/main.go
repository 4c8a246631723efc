// Command redisbare measures the ceiling of the queue benchmark's traffic
// on Redis with bare go-redis, without dsys: a client subscribes to each
// task's result key (Celery's Redis backend) and LPUSHes n kombu envelopes
// (Celery's 16 headers, base64 body) in pipelined batches; a worker claims
// up to prefetch messages per round trip (pop and record in kombu's
// unacked hash and index, one Lua script, as dsys does), adds the two
// arguments, and in one MULTI block stores each result (SET with expiry,
// PUBLISH) and removes the batch from the unacked hash and index; the
// client counts the published results. That is dsys's traffic with nothing
// else. It prints tasks/s as JSON.
//
//	go run ./bench/queue/redisbare -redis redis://127.0.0.1:6379/12 -n 10000
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

var claim = redis.NewScript(`
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local v = redis.call('RPOP', KEYS[3])
  if not v then break end
  local m = cjson.decode(v)
  local tag = m['properties']['delivery_tag']
  redis.call('HSET', KEYS[1], tag, '[' .. v .. ', "", ' .. cjson.encode(ARGV[3]) .. ']')
  redis.call('ZADD', KEYS[2], ARGV[1], tag)
  out[#out+1] = v
end
return out
`)

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/12", "Redis URL")
	n := flag.Int("n", 10000, "tasks")
	prefetch := flag.Int("prefetch", 512, "messages the worker claims per round trip")
	flag.Parse()
	if err := run(*url, *n, *prefetch); err != nil {
		fmt.Fprintln(os.Stderr, "redisbare:", err)
		os.Exit(1)
	}
}

func run(url string, n, prefetch int) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	opts.Protocol = 2
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	prefix := "redisbare." + uuid.NewString() + ":"
	queue := "bench"
	list, unacked, index := prefix+queue, prefix+"unacked", prefix+"unacked_index"
	defer rdb.Del(ctx, list, unacked, index)

	ids := make([]string, n)
	msgs := make([]string, n)
	for i := range msgs {
		ids[i] = uuid.NewString()
		msgs[i] = envelope(ids[i], i, queue)
	}
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() { werr <- worker(ctx, rdb, list, unacked, index, queue, prefetch, stop) }()

	start := time.Now()
	ps := rdb.Subscribe(ctx)
	defer ps.Close()
	const batch = 512
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		keys := make([]string, 0, hi-lo)
		for _, id := range ids[lo:hi] {
			keys = append(keys, "celery-task-meta-"+id)
		}
		if err := ps.Subscribe(ctx, keys...); err != nil {
			return err
		}
		pipe := rdb.Pipeline()
		for _, m := range msgs[lo:hi] {
			pipe.LPush(ctx, list, m)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	done := 0
	for done < n {
		msg, err := ps.ReceiveTimeout(ctx, 30*time.Second)
		if err != nil {
			return fmt.Errorf("after %d results: %w", done, err)
		}
		if m, ok := msg.(*redis.Message); ok {
			var doc struct {
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(m.Payload), &doc) != nil || doc.Status != "SUCCESS" {
				return fmt.Errorf("bad result %s", m.Payload)
			}
			done++
			_ = ps.Unsubscribe(ctx, m.Channel)
		}
	}
	el := time.Since(start)
	close(stop)
	if err := <-werr; err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]any{"tasks": n, "seconds": el.Seconds(), "tasks_per_s": float64(n) / el.Seconds()})
	fmt.Println(string(out))
	return nil
}

// envelope is a task message as kombu puts it on Redis.
func envelope(id string, i int, queue string) string {
	body := fmt.Sprintf(`[[%d, %d], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`, i, i)
	return `{"body": "` + base64.StdEncoding.EncodeToString([]byte(body)) + `", "content-encoding": "utf-8", ` +
		`"content-type": "application/json", "headers": {"lang": "py", "task": "add", "id": "` + id + `", ` +
		`"shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, ` +
		`"timelimit": [null, null], "root_id": "` + id + `", "parent_id": null, "argsrepr": "(` + strconv.Itoa(i) + `, ` +
		strconv.Itoa(i) + `)", "kwargsrepr": "{}", "origin": "bench", "ignore_result": false}, "properties": ` +
		`{"correlation_id": "` + id + `", "reply_to": "r", "delivery_mode": 2, "delivery_info": ` +
		`{"exchange": "", "routing_key": "` + queue + `"}, "priority": 0, "body_encoding": "base64", ` +
		`"delivery_tag": "` + uuid.NewString() + `"}}`
}

type message struct {
	Body    string `json:"body"`
	Headers struct {
		ID string `json:"id"`
	} `json:"headers"`
	Properties struct {
		DeliveryTag string `json:"delivery_tag"`
	} `json:"properties"`
}

// worker claims, runs and settles until stop.
func worker(ctx context.Context, rdb *redis.Client, list, unacked, index, queue string, prefetch int, stop chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		now := strconv.FormatFloat(float64(time.Now().UnixMicro())/1e6, 'f', 6, 64)
		got, err := claim.Run(ctx, rdb, []string{unacked, index, list}, now, prefetch, queue).StringSlice()
		if err != nil {
			return err
		}
		if len(got) == 0 {
			if err := rdb.Do(ctx, "BLMOVE", list, list, "RIGHT", "RIGHT", "0.1").Err(); err != nil && err != redis.Nil {
				return err
			}
			continue
		}
		pipe := rdb.TxPipeline()
		tags := make([]any, 0, len(got))
		for _, raw := range got {
			var m message
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				return err
			}
			body, err := base64.StdEncoding.DecodeString(m.Body)
			if err != nil {
				return err
			}
			var args []json.RawMessage
			if err := json.Unmarshal(body, &args); err != nil {
				return err
			}
			var xy [2]int64
			if err := json.Unmarshal(args[0], &xy); err != nil {
				return err
			}
			doc := `{"status": "SUCCESS", "result": ` + strconv.FormatInt(xy[0]+xy[1], 10) +
				`, "traceback": null, "children": [], "date_done": "` + time.Now().UTC().Format("2006-01-02T15:04:05.000000") +
				`", "task_id": "` + m.Headers.ID + `"}`
			key := "celery-task-meta-" + m.Headers.ID
			pipe.Set(ctx, key, doc, 10*time.Minute)
			pipe.Publish(ctx, key, doc)
			tags = append(tags, m.Properties.DeliveryTag)
		}
		fields := make([]string, len(tags))
		for i, t := range tags {
			fields[i] = t.(string)
		}
		pipe.HDel(ctx, unacked, fields...)
		pipe.ZRem(ctx, index, tags...)
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
}
