package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/dsys-dev/dsys/internal/testenv"
	"github.com/dsys-dev/dsys/queue/amqp"
	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/brokertest"
)

func dial(t testing.TB) *amqp.Transport {
	t.Helper()
	url := testenv.RabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := amqp.Dial(ctx, url, amqp.Options{ManagementURL: "-"})
	if err != nil {
		t.Fatalf("amqp.Dial: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t testing.TB) broker.Transport { return dial(t) })
}
