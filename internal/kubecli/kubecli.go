// Package kubecli holds sriovctl's Kubernetes commands: the node agent's --kubernetes mode and `fleet`.
// Only the companion binary sriovctl-kube links it, so the Kubernetes client libraries do not slow the
// start of every sriovctl command (see cli.KubeBinary). Importing it sets cli.Kube.
package kubecli
