package queue_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue"
	"github.com/dsys-dev/dsys/queue/brokertest"
)

func dialAMQP(t testing.TB) *queue.AMQPBroker {
	t.Helper()
	return dialAMQPLog(t, nil)
}

func dialAMQPLog(t testing.TB, log *slog.Logger) *queue.AMQPBroker {
	t.Helper()
	url := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := queue.DialAMQP(ctx, url, queue.AMQPOptions{ManagementURL: "-", Logger: log})
	if err != nil {
		t.Fatalf("DialAMQP: %v", err)
	}
	return b
}

func TestAMQPConformance(t *testing.T) {
	brokertest.Run(t, func(t testing.TB) queue.Broker { return dialAMQP(t) })
}
