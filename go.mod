module github.com/dsys-dev/dsys

go 1.26

require (
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.29.0
	gonum.org/v1/gonum v0.17.0
)

require github.com/stretchr/testify v1.11.1 // indirect
