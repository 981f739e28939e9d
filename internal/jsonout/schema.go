package jsonout

import "strings"

// Command names a command whose --json output has a schema, and the Go type it prints.
type Command struct {
	// Name is the command as typed ("vf set").
	Name string
	// Type is a zero value of what it prints.
	Type any
}

// Commands lists every command that prints JSON, with its type: the schemas are generated from it and
// the tests run each command and validate its output.
var Commands = []Command{
	{"show", Show{}},
	{"plan", Plan{}},
	{"apply", Apply{}},
	{"restore", Apply{}},
	{"status", Status{}},
	{"recover", Recover{}},
	{"forget", Forget{}},
	{"pf set", PFSet{}},
	{"vf set", Direct{}},
	{"vf bind", VFBind{}},
	{"pool list", PoolList{}},
	{"assign", Assign{}},
	{"release", Release{}},
	{"assignments", Assignments{}},
	{"trace", Trace{}},
	{"mirror create", MirrorChange{}},
	{"mirror delete", MirrorChange{}},
	{"mirror list", MirrorList{}},
	{"lab init", Show{}},
	{"lab reboot", LabChange{}},
	{"lab reset", LabChange{}},
	{"lab eswitch", LabChange{}},
	{"lab fault", LabFault{}},
	{"lab traffic", LabTraffic{}},
	{"ledger restore-backup", LedgerRestore{}},
	{"openstack render", OpenStackRender{}},
	{"openstack check", OpenStackCheck{}},
	{"version", Version{}},
	{"export", PolicyDoc{}},
	{"import netplan", PolicyDoc{}},
	{"import networkd", PolicyDoc{}},
	{"pool libvirt-network", LibvirtNetwork{}},
}

// SchemaBaseURL is where the published schemas live; each schema's $id is this plus its file name.
const SchemaBaseURL = "https://raw.githubusercontent.com/sriovctl/sriovctl/main/schemas/"

// PolicySchemaFile is the policy file's schema (also for YAML editors through yaml-language-server).
const PolicySchemaFile = "policy.schema.json"

// SchemaFile is the file name of a command's output schema: "vf set" is vf-set.output.schema.json.
func SchemaFile(command string) string {
	return strings.ReplaceAll(command, " ", "-") + ".output.schema.json"
}
