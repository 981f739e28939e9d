#!/usr/bin/python3
"""Load sriovctl's OpenStack files into the real Nova, Neutron and openstackclient code.

Run with Debian's /usr/bin/python3 and python3-nova, python3-neutron, python3-neutron-lib,
python3-oslo.config and python3-openstackclient installed (OpenStack Zed on Debian 12):

    /usr/bin/python3 harness.py cases.json

cases.json is a list of {"name", "show", "ml2", "agent", "nova", "steps"}: show is `sriovctl show
--json` output, steps the "steps" of `sriovctl openstack render --json`, the others file paths. It
prints a list of results, one per case (exit 0 even when a service rejects the files):

    ml2    neutron-server's ML2 managers (TypeManager, MechanismManager, ExtensionManager) built
           from ml2_conf.ini: "error" when neutron-server would not start; per physnet the provider
           segments (flat, vlan) it accepts; the extension aliases (port-security).
    agent  neutron-sriov-nic-agent's config parser and ESwitchManager.discover_devices: "error" when
           the agent would exit; else "managed": {physnet: [VF PCI addresses]}.
    nova   nova-compute's Whitelist and PciDeviceStats fed the host's VFs: "error" when device_spec
           does not load; "offered": {physnet: [VF addresses a direct port on it can get]} and
           "trusted" (the same for a port asking trusted=true), from nova's own request spec and
           pool filter; "aliasError" and "filterError" as nova-api and nova-scheduler raise them.
    bind   per physnet, the segment types the SR-IOV mechanism driver binds a direct port on, given
           the device_mappings the agent reports.
    steps  errors of openstackclient's own argument parser on each CLI step.

The host is what the case's show says: a fake /sys tree is built from it in a temporary directory and
every /sys path the services open is redirected there, so nova.pci.utils and the agent's
PciOsWrapper run unmodified.
"""

import argparse
import builtins
import io
import json
import os
import shutil
import sys
import tempfile
import traceback


def build_sys(root, show):
    """Write the sysfs files nova.pci.utils and neutron's PciOsWrapper read."""
    def write(path, text):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    sysd = os.path.join(root, "sys")
    for pf in show.get("pfs", []):
        pa = pf["pciAddress"]
        dev = os.path.join(sysd, pa)
        write(os.path.join(dev, "sriov_totalvfs"), "%d\n" % pf["totalVfs"])
        write(os.path.join(dev, "sriov_numvfs"), "%d\n" % pf["numVfs"])
        write(os.path.join(dev, "vendor"), "0x%s\n" % pf["vendorId"])
        write(os.path.join(dev, "device"), "0x%s\n" % pf["deviceId"])
        if pf.get("vfDeviceId"):
            write(os.path.join(dev, "sriov_vf_device"), "%s\n" % pf["vfDeviceId"])
        os.makedirs(os.path.join(dev, "net", pf["name"]), exist_ok=True)
        for vf in pf.get("vfs") or []:
            va = vf["pciAddress"]
            vdev = os.path.join(sysd, va)
            write(os.path.join(vdev, "vendor"), "0x%s\n" % pf["vendorId"])
            write(os.path.join(vdev, "device"), "0x%s\n" % pf.get("vfDeviceId", ""))
            os.symlink("../" + pa, os.path.join(vdev, "physfn"))
            os.symlink("../" + va, os.path.join(dev, "virtfn%d" % vf["id"]))
            if vf.get("netdev"):
                os.makedirs(os.path.join(vdev, "net", vf["netdev"]), exist_ok=True)
        for d in ("bus/pci/devices", "class/net"):
            os.makedirs(os.path.join(sysd, d), exist_ok=True)
        os.symlink("../../../" + pa, os.path.join(sysd, "bus/pci/devices", pa))
        for vf in pf.get("vfs") or []:
            os.symlink("../../../" + vf["pciAddress"], os.path.join(sysd, "bus/pci/devices", vf["pciAddress"]))
        netdir = os.path.join(sysd, "class/net", pf["name"])
        os.makedirs(netdir, exist_ok=True)
        # The kernel's link is ../../../PCI-ADDRESS; nova strips "./" from it to get the address.
        os.symlink("../../../" + pa, os.path.join(netdir, "device"))


SYS_ROOT = [""]  # the current case's fake host


def redirect_sys():
    """Send every path under /sys to SYS_ROOT/sys, for the file functions the services use."""
    def fix(p):
        if isinstance(p, str) and (p == "/sys" or p.startswith("/sys/")):
            return SYS_ROOT[0] + p
        return p

    def wrap(fn):
        def inner(p, *a, **kw):
            return fn(fix(p), *a, **kw)
        return inner

    builtins.open = wrap(builtins.open)
    io.open = builtins.open
    for name in ("stat", "lstat", "listdir", "readlink", "scandir"):
        setattr(os, name, wrap(getattr(os, name)))


def err(e):
    return "%s: %s" % (type(e).__name__, e)


def load_conf(conf, path):
    """Parse path as the service would; conf.__call__ raises on a file oslo.config cannot read."""
    conf(["--config-file", path], project="sriovctl-harness")


def devices(show):
    for pf in show.get("pfs", []):
        for vf in pf.get("vfs") or []:
            yield pf, vf


def check_ml2(path, physnets, out):
    from oslo_config import cfg
    from neutron.conf.plugins.ml2 import config as ml2_config
    from neutron.plugins.ml2 import managers
    from neutron.plugins.ml2.drivers import type_flat, type_vlan  # noqa: F401 (register their options)
    conf = cfg.CONF
    ml2_config.register_ml2_plugin_opts()
    res = out["ml2"] = {}
    try:
        load_conf(conf, path)
        # Drivers that talk to agents (l2population, qos) build RPC clients when loaded; an
        # in-memory transport stands in for the message queue.
        import oslo_messaging
        from neutron_lib import rpc as n_rpc
        n_rpc.TRANSPORT = oslo_messaging.get_rpc_transport(conf, url="fake:/")
        n_rpc.NOTIFICATION_TRANSPORT = oslo_messaging.get_notification_transport(conf, url="fake:/")
        n_rpc.NOTIFIER = oslo_messaging.Notifier(n_rpc.NOTIFICATION_TRANSPORT)
        tm = managers.TypeManager()
        res["typeDrivers"] = sorted(tm.drivers)
        # Names stevedore did not find are skipped silently: a driver the operator asked for is missing.
        res["typeDriversMissing"] = [t for t in conf.ml2.type_drivers if t not in tm.drivers]
        mm = managers.MechanismManager()
        res["mechanismDrivers"] = [d.name for d in mm.ordered_mech_drivers]
        em = managers.ExtensionManager()
        res["extensionAliases"] = sorted(em.extension_aliases())
        res["extensionDriversMissing"] = [e for e in conf.ml2.extension_drivers if e not in em.names()]
    except BaseException as e:  # SystemExit: neutron-server would stop
        res["error"] = err(e)
        return None, None
    nets = res["networks"] = {}
    for p in physnets:
        ok = []
        for seg in ({"network_type": "flat", "physical_network": p},
                    {"network_type": "vlan", "physical_network": p, "segmentation_id": None}):
            if seg["network_type"] not in tm.drivers:
                continue
            if seg["network_type"] == "vlan":
                ranges = tm.drivers["vlan"].obj.network_vlan_ranges
                r = ranges.get(p)
                if not r:
                    continue
                seg["segmentation_id"] = r[0][0]
            try:
                tm.validate_provider_segment(dict(seg))
                ok.append(seg)
            except Exception:
                pass
        nets[p] = ok
    return tm, mm


def check_agent(path, show, out):
    from oslo_config import cfg
    from neutron.plugins.ml2.drivers.mech_sriov.agent import sriov_nic_agent
    from neutron.plugins.ml2.drivers.mech_sriov.agent import eswitch_manager as esm
    from neutron.agent import firewall
    from neutron.conf.agent import securitygroups_rpc
    securitygroups_rpc.register_securitygroups_opts()
    res = out["agent"] = {}
    try:
        load_conf(cfg.CONF, path)
        # SecurityGroupAgentRpc, which the agent builds at start, loads the firewall driver so.
        fw = cfg.CONF.SECURITYGROUP.firewall_driver
        if fw:
            firewall.load_firewall_driver_class(fw)
        p = sriov_nic_agent.SriovNicAgentConfigParser()
        p.parse()
        mgr = esm.ESwitchManager()
        # A PF with 0 VFs is skipped once, then taken; the agent's loop discovers again.
        mgr.discover_devices(p.device_mappings, p.exclude_devices)
        mgr.discover_devices(p.device_mappings, p.exclude_devices)
    except BaseException as e:  # SystemExit or ValueError: the agent exits
        res["error"] = err(e)
        return None
    managed = res["managed"] = {}
    for physnet, switches in mgr.emb_switches_map.items():
        addrs = set()
        for sw in switches:
            addrs |= set(sw.get_pci_slot_list())
        managed[physnet] = sorted(addrs)
    res["deviceMappings"] = p.device_mappings
    return p.device_mappings


def check_nova(path, show, out, mappings):
    import nova.conf
    from nova import objects
    from nova.pci import request as pci_request
    from nova.pci import stats as pci_stats
    from nova.pci import whitelist
    from nova.scheduler import filters
    objects.register_all()
    conf = nova.conf.CONF
    res = out["nova"] = {}
    try:
        load_conf(conf, path)
    except BaseException as e:
        res["error"] = err(e)
        return
    try:
        wl = whitelist.Whitelist(conf.pci.device_spec)
    except BaseException as e:
        res["error"] = err(e)
        return
    try:
        pci_request._get_alias_from_config()
    except BaseException as e:
        res["aliasError"] = err(e)
    # nova-scheduler: available_filters loaded, then each enabled filter by class name.
    handler = filters.HostFilterHandler()
    classes = {c.__name__ for c in handler.get_matching_classes(conf.filter_scheduler.available_filters)}
    bad = [f for f in conf.filter_scheduler.enabled_filters if f not in classes]
    if bad:
        res["filterError"] = "SchedulerHostFilterNotFound: " + ", ".join(bad)
    res["pciFilter"] = "PciPassthroughFilter" in conf.filter_scheduler.enabled_filters

    # nova-compute: the devices the libvirt driver reports, kept if a device_spec entry matches.
    st = pci_stats.PciDeviceStats(objects.NUMATopology(cells=[]), dev_filter=wl)
    for pf, vf in devices(show):
        d = objects.PciDevice(compute_node_id=1, address=vf["pciAddress"], vendor_id=pf["vendorId"],
                              product_id=pf.get("vfDeviceId", ""), dev_type="type-VF", status="available",
                              parent_addr=pf["pciAddress"], numa_node=None, dev_id="pci_" + vf["pciAddress"],
                              label="label_%s_%s" % (pf["vendorId"], pf.get("vfDeviceId", "")),
                              request_id=None, instance_uuid=None, extra_info={})
        try:
            if wl.device_assignable({"vendor_id": d.vendor_id, "product_id": d.product_id,
                                     "address": d.address, "parent_addr": d.parent_addr}):
                st.add_device(d)
        except BaseException as e:
            res["error"] = "matching %s: %s" % (vf["pciAddress"], err(e))
            return
    # What a direct port on each physnet can get: nova's own request spec and pool filter.
    # A port's network physnet is what Neutron knows (the agent's mappings); nova compares it with
    # the devices' tags case-insensitively.
    physnets = set(mappings)
    for pool in st.pools:
        if pool.get("physical_network"):
            physnets.add(pool["physical_network"])
    offered, trusted = {}, {}
    for p in sorted(physnets, key=str):
        for want, dst in ((None, offered), (True, trusted)):
            spec = {"physical_network": p, "remote_managed": "False"}
            if want is not None:
                spec["trusted"] = str(want)
            req = objects.InstancePCIRequest(count=1, spec=[spec], request_id=None)
            pools = st._filter_pools_for_spec(st.pools, req)
            addrs = sorted(dev.address for pool in pools for dev in pool["devices"])
            if addrs:
                dst[p] = addrs
    res["offered"] = offered
    res["trusted"] = trusted
    res["physnets"] = sorted({p for pool in st.pools for p in [pool.get("physical_network")] if p}, key=str)


class PortContext:
    """The part of ML2's PortContext a mechanism driver's bind_port uses."""

    def __init__(self, agents, segments, profile):
        from neutron_lib.api.definitions import portbindings

        class Net:
            current = {"id": "net"}
        self.network = Net()
        self.current = {"id": "port", portbindings.VNIC_TYPE: portbindings.VNIC_DIRECT,
                        portbindings.PROFILE: profile, "binding:host_id": "compute1"}
        self.segments_to_bind = segments
        self._agents = agents
        self.bound_segment = None

    def host_agents(self, agent_type):
        return [a for a in self._agents if a["agent_type"] == agent_type]

    def set_binding(self, segment_id, vif_type, vif_details, status=None):
        self.bound_segment = segment_id


def check_bind(mm, tm, physnets, mappings, out):
    """Bind a direct port on each physnet through the SR-IOV mechanism driver, as neutron-server does."""
    res = out["bind"] = {}
    drv = None
    for d in mm.ordered_mech_drivers:
        if d.name == "sriovnicswitch":
            drv = d.obj
    if drv is None:
        res["error"] = "sriovnicswitch is not loaded"
        return
    agent = {"agent_type": drv.agent_type, "alive": True, "host": "compute1", "admin_state_up": True,
             "configurations": {"device_mappings": mappings or {}}}
    for p in physnets:
        bound = []
        for s in out["ml2"]["networks"].get(p, []):
            seg = {"id": "seg-" + s["network_type"], "network_type": s["network_type"],
                   "physical_network": p, "segmentation_id": s.get("segmentation_id")}
            ctx = PortContext([agent], [seg], {"physical_network": p})
            try:
                drv.bind_port(ctx)
            except Exception as e:
                res.setdefault("errors", []).append("%s: %s" % (p, err(e)))
                continue
            if ctx.bound_segment:
                bound.append(s["network_type"])
        res[p] = bound


def check_steps(steps, out):
    from openstackclient.network.v2 import network, subnet, port
    from openstackclient.compute.v2 import server

    class Fake:
        def __getattr__(self, name):
            return self

        def __call__(self, *a, **kw):
            return True

    cmds = {("network", "create"): network.CreateNetwork, ("subnet", "create"): subnet.CreateSubnet,
            ("port", "create"): port.CreatePort, ("server", "create"): server.CreateServer}
    res = out["steps"] = {"errors": []}
    for st in steps:
        args = st["args"]
        key = tuple(args[1:3])
        if args[0] != "openstack" or key not in cmds:
            res["errors"].append("unknown command: %s" % " ".join(args))
            continue
        cmd = cmds[key](Fake(), None)
        parser = cmd.get_parser("openstack " + " ".join(key))
        stderr = sys.stderr
        sys.stderr = io.StringIO()
        try:
            parser.parse_args(args[3:])
        except SystemExit:
            res["errors"].append("%s: %s" % (" ".join(args), sys.stderr.getvalue().strip().splitlines()[-1:]))
        finally:
            sys.stderr = stderr


def fork_call(fn):
    """Run fn() in a forked child; return what it returns (JSON-able), or {"crash": ...}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn()
        except BaseException:
            res = {"crash": traceback.format_exc()}
        with os.fdopen(w, "w") as f:
            json.dump(res, f, default=str)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"crash": "child died"}


def phase(cases, results, imports, run):
    """One service: a child imports its code once, then checks each case in a fork of itself, so no
    state (oslo.config's global CONF, the agent's singleton ESwitchManager) leaks between cases or
    between nova and neutron, which register clashing options and run as separate processes."""
    def warm():
        sys.stdout = io.StringIO()  # keep the services' own prints out of the JSON
        imports()
        outs = []
        for c, res in zip(cases, results):
            def one(c=c, res=res):
                SYS_ROOT[0] = c["_sys"]
                o = {}
                run(c, res, o)
                return o
            outs.append(fork_call(one))
        return outs

    outs = fork_call(warm)
    if isinstance(outs, dict):  # the imports failed
        outs = [outs] * len(cases)
    for res, o in zip(results, outs):
        if "crash" in o and "crash" in res:
            o["crash"] = res["crash"] + "\n" + o["crash"]
        res.update(o)


def import_nova():
    import nova.conf  # noqa: F401
    from nova import objects
    from nova.pci import stats, whitelist  # noqa: F401
    from nova.scheduler import filters  # noqa: F401
    objects.register_all()


def import_neutron():
    from neutron.plugins.ml2 import managers  # noqa: F401
    from neutron.plugins.ml2.drivers.mech_sriov.agent import sriov_nic_agent  # noqa: F401
    from neutron_lib.api.definitions import portbindings  # noqa: F401


def import_osc():
    from openstackclient.network.v2 import network, subnet, port  # noqa: F401
    from openstackclient.compute.v2 import server  # noqa: F401


def run_ml2(c, res, o):
    mappings = res.get("agent", {}).get("deviceMappings")
    physnets = sorted(set(res.get("nova", {}).get("physnets", [])) | set((mappings or {}).keys()), key=str)
    tm, mm = check_ml2(c["ml2"], physnets, o)
    if mm is not None:
        check_bind(mm, tm, physnets, mappings, o)


def main():
    ap = argparse.ArgumentParser(description="Load rendered OpenStack files into the real services' code.")
    ap.add_argument("cases", help='JSON file: a list of {"name", "show", "ml2", "agent", "nova", "steps"}: '
                    "show is `sriovctl show --json` output, steps the render's JSON steps, the rest file paths")
    a = ap.parse_args()
    with open(a.cases) as f:
        cases = json.load(f)
    tmp = tempfile.mkdtemp(prefix="sriovctl-harness-")
    for i, c in enumerate(cases):
        c["_sys"] = os.path.join(tmp, str(i))
        build_sys(c["_sys"], c["show"])
    redirect_sys()
    results = [{"name": c.get("name", "")} for c in cases]
    phase(cases, results, import_neutron, lambda c, res, o: check_agent(c["agent"], c["show"], o))
    phase(cases, results, import_nova, lambda c, res, o: check_nova(c["nova"], c["show"], o,
                                                                   res.get("agent", {}).get("deviceMappings") or {}))
    phase(cases, results, import_neutron, run_ml2)
    phase(cases, results, import_osc, lambda c, res, o: check_steps(c.get("steps") or [], o))
    shutil.rmtree(tmp, ignore_errors=True)
    json.dump(results, sys.stdout, indent=1, sort_keys=True, default=str)
    print()


if __name__ == "__main__":
    main()
