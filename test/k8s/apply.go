package k8s

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// DeployDir is the folder of the deployment manifests (deploy/kubernetes).
func DeployDir() string {
	return filepath.Join(Dir(), "..", "..", "deploy", "kubernetes")
}

// ReadObjects decodes every YAML document of a manifest file.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// KustomizeResources is the resource list of dir/kustomization.yaml: the files `kubectl apply -k` installs.
func KustomizeResources(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	return k.Resources, nil
}

// ApplyKustomization server-side applies every manifest that dir/kustomization.yaml lists, in its order, as
// `kubectl apply --server-side -k dir` would: each object first as a server-side dry run (when its
// namespace exists already), then for real; after a CRD it waits until the CRD is served.
func ApplyKustomization(ctx context.Context, c client.Client, dir string) error {
	files, err := KustomizeResources(dir)
	if err != nil {
		return err
	}
	for _, file := range files {
		objs, err := ReadObjects(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		for _, u := range objs {
			what := fmt.Sprintf("%s: %s %s", file, u.GetKind(), u.GetName())
			nsReady := true
			if ns := u.GetNamespace(); ns != "" {
				var probe unstructured.Unstructured
				probe.SetAPIVersion("v1")
				probe.SetKind("Namespace")
				err := c.Get(ctx, types.NamespacedName{Name: ns}, &probe)
				if err != nil && !apierrors.IsNotFound(err) {
					return err
				}
				nsReady = err == nil
			}
			if nsReady {
				if err := c.Patch(ctx, u.DeepCopy(), client.Apply, client.FieldOwner("sriovctl"), client.ForceOwnership, client.DryRunAll); err != nil {
					return fmt.Errorf("%s: server-side dry run: %w", what, err)
				}
			}
			if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("sriovctl"), client.ForceOwnership); err != nil {
				return fmt.Errorf("%s: server-side apply: %w", what, err)
			}
			if u.GetKind() == "CustomResourceDefinition" {
				if err := waitEstablished(ctx, c, u.GetName()); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, c client.Client, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &crd); err != nil {
			return err
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not established after 30 s: %v", crd.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
