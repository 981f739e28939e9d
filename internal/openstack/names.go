package openstack

import "strings"

// Names the services load by entry point or class name, case-sensitively: a name not listed here
// stops the service (mechanism drivers, scheduler filters, firewall drivers) or is silently not
// loaded (type and extension drivers). Lists are what OpenStack Zed (Debian 12: nova 26, neutron
// 21) ships, plus the names later releases added.
var (
	knownMechDrivers = names("l2population linuxbridge macvtap openvswitch ovn sriovnicswitch " +
		"fake_agent another_fake_agent fake_agent_l3 faulty_agent logger test test_with_agent")
	knownTypeDrivers = names("flat geneve gre local vlan vxlan")
	// Later: port_hints, port_hardware_offload_type (2023.2), port_trusted_vif (2024.2),
	// uplink_status_propagation_updatable (2024.1).
	knownExtDrivers = names("data_plane_status dns dns_domain_keywords dns_domain_ports port_device_profile " +
		"port_numa_affinity_policy port_security qos subnet_dns_publish_fixed_ip tag_ports_during_bulk_creation " +
		"uplink_status_propagation test testdb port_hints port_hardware_offload_type port_trusted_vif " +
		"uplink_status_propagation_updatable")
	// The agent loads firewall_driver by alias or by class path.
	knownFirewalls = names("noop iptables iptables_hybrid openvswitch " +
		"neutron.agent.firewall.NoopFirewallDriver neutron.agent.linux.iptables_firewall.IptablesFirewallDriver " +
		"neutron.agent.linux.iptables_firewall.OVSHybridIptablesFirewallDriver " +
		"neutron.agent.linux.openvswitch_firewall.OVSFirewallDriver " +
		"neutron.agent.linux.openvswitch_firewall.firewall.OVSFirewallDriver")
	// nova.scheduler.filters.all_filters: every filter class nova ships, by class name.
	knownFilters = names("AggregateImagePropertiesIsolation AggregateInstanceExtraSpecsFilter AggregateIoOpsFilter " +
		"AggregateMultiTenancyIsolation AggregateNumInstancesFilter AggregateTypeAffinityFilter AllHostsFilter " +
		"AvailabilityZoneFilter ComputeCapabilitiesFilter ComputeFilter DifferentHostFilter ImagePropertiesFilter " +
		"IoOpsFilter IsolatedHostsFilter JsonFilter MetricsFilter NUMATopologyFilter NumInstancesFilter " +
		"PciPassthroughFilter SameHostFilter ServerGroupAffinityFilter ServerGroupAntiAffinityFilter SimpleCIDRAffinityFilter")
	// Neutron's defaults (Zed) for options render and check reason about.
	defaultTypeDrivers = []string{"local", "flat", "vlan", "gre", "vxlan", "geneve"}
	defaultTenantTypes = []string{"local"}
	aliasDeviceTypes   = names("type-PCI type-PF type-VF")
	aliasNUMAPolicies  = names("required legacy preferred socket")
	aliasKeys          = names("name capability_type product_id vendor_id device_type numa_policy")
)

func names(s string) map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(s) {
		m[n] = true
	}
	return m
}

// foldMatch returns the known name that n spells in other letter case ("" if none).
func foldMatch(known map[string]bool, n string) string {
	for k := range known {
		if strings.EqualFold(k, n) {
			return k
		}
	}
	return ""
}

// listOpt splits an oslo.config ListOpt value as oslo does: comma-separated, blanks trimmed, an
// empty item in the middle kept (it is a name nothing has), one trailing comma ignored.
func listOpt(v string) []string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(v, ",")
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}
