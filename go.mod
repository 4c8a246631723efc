module github.com/dsys-dev/dsys

go 1.26
