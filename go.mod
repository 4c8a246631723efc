module github.com/dsys-dev/dsys

go 1.26

require (
	github.com/go-zeromq/zmq4 v0.17.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/go-zeromq/goczmq/v4 v4.2.2 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
	golang.org/x/sync v0.16.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)
