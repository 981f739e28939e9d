//go:build tools

// Package apiserver only pins the main packages build.sh builds (kube-apiserver, and kubectl on request)
// so that `go mod tidy` keeps what they need.
package apiserver

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
