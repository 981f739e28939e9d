package v1alpha1_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sriovctl/sriovctl/api/v1alpha1"
	"github.com/sriovctl/sriovctl/internal/plan"
	"github.com/sriovctl/sriovctl/internal/policy"
	"github.com/sriovctl/sriovctl/internal/sriov"
)

// fill sets every exported, JSON-visible field of v (recursively, one element per slice and map) to a
// non-zero value, so that a JSON round trip through a mirror type loses something whenever the mirror
// lacks a field or gives it another type.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			fill(v.Field(i), depth+1)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7.5)
	}
}

// TestMirrorsKeepEveryField: the documents the agent publishes (show --json, plan --json) and the policy
// document of spec.policy survive a JSON round trip through the API types unchanged, every field set.
// When a field is added to the project's types, this fails until the API type has it too.
func TestMirrorsKeepEveryField(t *testing.T) {
	tests := []struct {
		name   string
		source any // pointer to the project's type
		mirror any // pointer to the API type
	}{
		{"policy file -> spec.policy", &policy.Policy{}, &v1alpha1.PolicyDocument{}},
		{"show --json -> status.observed", &sriov.Host{}, &v1alpha1.HostState{}},
		{"plan --json -> status.plan", &plan.Plan{}, &v1alpha1.Plan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill(reflect.ValueOf(tt.source).Elem(), 0)
			want, err := json.Marshal(tt.source)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.mirror); err != nil {
				t.Fatalf("the API type lacks a field of the project's type: %v\njson: %s", err, want)
			}
			got, err := json.Marshal(tt.mirror)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, want) {
				t.Errorf("round trip through the API type changed the document\n got: %s\nwant: %s", got, want)
			}
			// And back: what the API type holds decodes strictly into the project's type.
			back := reflect.New(reflect.TypeOf(tt.source).Elem()).Interface()
			dec = json.NewDecoder(bytes.NewReader(got))
			dec.DisallowUnknownFields()
			if err := dec.Decode(back); err != nil {
				t.Fatalf("the API type has a field the project's type lacks: %v", err)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
