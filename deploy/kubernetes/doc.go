// Package kubernetes holds the manifests that deploy sriovctl's fleet mode (the CRDs, the agents'
// ServiceAccount, RBAC and admission policy, the DaemonSet) and, in its tests, the proof that a real
// kube-apiserver accepts every one of them and enforces the CRDs' schema and the agents' least privilege.
// It has no code: `kubectl apply -k deploy/kubernetes` installs the files.
package kubernetes
