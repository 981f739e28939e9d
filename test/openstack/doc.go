// Package openstack holds sriovctl's rendered OpenStack configuration to the real Nova, Neutron and
// openstackclient code: harness.py (run with Debian's /usr/bin/python3 and the python3-nova,
// python3-neutron, python3-neutron-lib, python3-oslo.config and python3-openstackclient packages)
// loads the files into the services' own parsers, device matching, type and mechanism drivers and
// argument parsers; the Go tests render each case on a lab host, run the harness and compare what the
// services would offer with what was asked, and `openstack check`'s verdict with theirs.
//
// The tests skip when the packages are missing, unless SRIOVCTL_REQUIRE_OPENSTACK=1 (CI), where that
// is a failure.
package openstack
