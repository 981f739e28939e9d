//go:build tools

// Package etcd only pins etcd's main package so that `go mod tidy` keeps what it needs.
package etcd

import _ "go.etcd.io/etcd/server/v3"
