// Package k8s starts a real Kubernetes control plane (kube-apiserver and etcd, through controller-runtime's
// envtest) for tests of sriovctl's fleet mode, with the sriovctl.io CRDs installed.
//
// The binaries come from build.sh beside this file, which builds them from the Go module proxy and caches
// them by version; it prints the folder to put in KUBEBUILDER_ASSETS. Without KUBEBUILDER_ASSETS the tests
// that need a control plane skip, unless SRIOVCTL_REQUIRE_K8S=1 (CI sets both), which makes them fail.
package k8s

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
)

// RequireEnv is the environment variable that turns a missing control plane from a skip into a failure.
const RequireEnv = "SRIOVCTL_REQUIRE_K8S"

// Dir is the folder of this package's sources, where build.sh lives.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// CRDDir is the folder of the generated CRDs (deploy/kubernetes/crd).
func CRDDir() string {
	return filepath.Join(Dir(), "..", "..", "deploy", "kubernetes", "crd")
}

// Scheme knows the built-in Kubernetes types, CRDs and sriovctl.io/v1alpha1.
func Scheme() *kruntime.Scheme {
	s := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Options configure Start.
type Options struct {
	// WithoutCRDs leaves the sriovctl.io CRDs out (a test that installs them itself).
	WithoutCRDs bool
}

// ControlPlane is a running kube-apiserver and etcd.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Start starts a control plane for the test and stops it when the test ends. It skips the test when
// KUBEBUILDER_ASSETS is unset, unless SRIOVCTL_REQUIRE_K8S=1.
func Start(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		msg := "KUBEBUILDER_ASSETS is unset: run `export KUBEBUILDER_ASSETS=\"$(test/k8s/build.sh)\"` for a real kube-apiserver and etcd"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg + " (" + RequireEnv + "=1)")
		}
		t.Skip(msg)
	}
	env := &envtest.Environment{
		Scheme:                   Scheme(),
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: time.Minute, // 2 shared cores: the default 20 s is too tight under load
		ControlPlaneStopTimeout:  time.Minute,
	}
	if !opts.WithoutCRDs {
		env.CRDDirectoryPaths = []string{CRDDir()}
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &ControlPlane{Env: env, Config: cfg, Client: c}
}

// As returns a client that acts as user (with groups and extra user info) through impersonation, so that a
// test sees what RBAC and admission let that user do.
func (cp *ControlPlane) As(t testing.TB, user string, groups []string, extra map[string][]string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups, Extra: extra}
	c, err := client.New(cfg, client.Options{Scheme: cp.Env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServiceAccount returns the user name and groups Kubernetes gives a ServiceAccount's tokens.
func ServiceAccount(namespace, name string) (string, []string) {
	return "system:serviceaccount:" + namespace + ":" + name,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// NodeNameExtra is the user extra key under which a pod-bound ServiceAccount token carries its node's name.
const NodeNameExtra = "authentication.kubernetes.io/node-name"

// GVR of the sriovctl.io resources, for dynamic and table requests.
var (
	HostPolicies = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "sriovhostpolicies"}
	NodeStates   = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "sriovnodestates"}
)
