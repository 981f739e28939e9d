//go:build tools

// Package apiserver only pins kube-apiserver's main package so that `go mod tidy` keeps what it needs.
package apiserver

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
