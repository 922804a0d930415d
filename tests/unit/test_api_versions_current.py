"""API 1.42–1.56 in translate/'s version tables: each CHANGELOG change at its version, and not elsewhere."""

import types

import pytest

from shim.engine import containerconfig as cc
from shim.engine import validation
from shim.engine.model import Container, ContainerState
from shim.engine.netmodel import ContainerNet, Endpoint, EndpointView, Network
from shim.errors import InvalidParameter
from shim.translate import container_create as tcc
from shim.translate import containers as tr
from shim.translate import images as tri
from shim.translate import networks as trn
from shim.translate import system as trs
from shim.translate.versions import MAX_VERSION, Version, advertised_max, require

V = Version.parse


def container(**config):
    return Container(
        id="a" * 64,
        name="web",
        created=1,
        path="sleep",
        args=["1"],
        config=cc.normalize_config({"Image": "busybox", "Hostname": "web-host", **config}),
        host_config=cc.adapt_host_config(cc.normalize_host_config({"NetworkMode": "appnet"})),
        networking_config={},
        image_id="sha256:" + "b" * 64,
        state=ContainerState(),
    )


APPNET = Network(id="n" * 64, name="appnet", driver="bridge", created=1, subnet="10.5.0.0/24", gateway="10.5.0.1")


def settings():
    """What networking gives inspect for `container()`: its facts, one live endpoint on appnet."""
    ep = Endpoint(
        network_id=APPNET.id, endpoint_id="e" * 64, ip="10.5.0.2", prefix=24, mac="02:42:00:00:00:02", aliases=["web"]
    )
    cn = ContainerNet(cid="a" * 64, name="web", mode=APPNET.id, live=True, order=[APPNET.id], endpoints={APPNET.id: ep})
    return {
        "network_settings": EndpointView(
            net=cn, networks={APPNET.id: APPNET}, mode=APPNET.id, exposed=[], port_bindings={}
        )
    }


def test_max_version_is_1_56_and_compose_v1_gets_1_44():
    assert V("1.56") == MAX_VERSION
    assert advertised_max("docker-compose/1.29.2 docker-py/6.1.3 Linux/6.1") == V("1.44")
    assert advertised_max("Docker-Client/28.2.2 (linux)") == advertised_max(None) == V("1.56")


def test_inspect_aliases_hold_short_id_and_hostname_below_1_45_only():
    c = container()
    old = tr.inspect_out(c, V("1.44"), settings())["NetworkSettings"]["Networks"]["appnet"]
    new = tr.inspect_out(c, V("1.45"), settings())["NetworkSettings"]["Networks"]["appnet"]
    assert old["Aliases"] == ["web", "a" * 12, "web-host"] and new["Aliases"] == ["web"]
    assert "DNSNames" not in tr.inspect_out(c, V("1.43"), settings())["NetworkSettings"]["Networks"]["appnet"]


def test_inspect_gw_priority_from_1_48():
    c = container()
    assert "GwPriority" not in tr.inspect_out(c, V("1.47"), settings())["NetworkSettings"]["Networks"]["appnet"]
    assert tr.inspect_out(c, V("1.48"), settings())["NetworkSettings"]["Networks"]["appnet"]["GwPriority"] == 0


def test_inspect_1_52_drops_legacy_network_settings_onbuild_mac_and_kmem_tcp():
    c = container(MacAddress="02:42:00:00:00:09")
    c.host_config["KernelMemoryTCP"] = 5
    old, new = tr.inspect_out(c, V("1.51"), settings()), tr.inspect_out(c, V("1.52"), settings())
    assert {"Bridge", "IPAddress", "MacAddress"} <= set(old["NetworkSettings"])
    assert not {"Bridge", "IPAddress", "MacAddress", "Gateway"} & set(new["NetworkSettings"])
    assert "OnBuild" in old["Config"] and "OnBuild" not in new["Config"]
    assert old["Config"]["MacAddress"] == "02:42:00:00:00:09" and "MacAddress" not in new["Config"]
    assert old["HostConfig"]["KernelMemoryTCP"] == 5 and "KernelMemoryTCP" not in new["HostConfig"]


def test_inspect_does_not_edit_the_engines_settings():
    extra = settings()
    tr.inspect_out(container(), V("1.44"), extra)
    assert extra["network_settings"].net.endpoints[APPNET.id].aliases == ["web"]


def test_list_health_from_1_52_and_annotations_from_1_46():
    c = container()
    c.host_config["Annotations"] = {"a": "b"}
    assert "Health" not in tr.list_item_out(c, V("1.51"))
    assert tr.list_item_out(c, V("1.52"))["Health"] == {"Status": "none", "FailingStreak": 0}
    assert "Annotations" not in tr.list_item_out(c, V("1.45"))["HostConfig"]
    assert tr.list_item_out(c, V("1.46"))["HostConfig"]["Annotations"] == {"a": "b"}


def test_stats_os_type_from_1_52():
    assert "os_type" not in tr.stats_out({"id": "x"}, V("1.51"))
    assert tr.stats_out({"id": "x"}, V("1.52"))["os_type"] == "linux"


# ------------------------------------------------------------------ create


def create(body, v, host=None, net=None):
    return tr.create_in({"Image": "busybox", **body, "HostConfig": host or {}, "NetworkingConfig": net or {}}, V(v))


def test_create_several_endpoints_only_from_1_44():
    net = {"EndpointsConfig": {"a": {}, "b": {}}}
    with pytest.raises(InvalidParameter, match="Container cannot be created with multiple network endpoints: a, b"):
        create({}, "1.43", net=net)
    assert set(create({}, "1.44", net=net).networking_config["EndpointsConfig"]) == {"a", "b"}


def test_create_mount_rules_by_version():
    bad = {"Mounts": [{"Type": "bind", "Source": "/x", "Target": "/y", "VolumeOptions": {}}]}
    with pytest.raises(InvalidParameter, match='VolumeOptions must not be specified on mount type "bind"'):
        create({}, "1.42", host=bad)
    create({}, "1.41", host=bad)  # below 1.42 the engine's own mount validation answers
    sub = {"Mounts": [{"Type": "volume", "Source": "v", "Target": "/y", "VolumeOptions": {"Subpath": "a"}}]}
    with pytest.raises(InvalidParameter, match=r"VolumeOptions.Subpath needs API v1.45 or newer"):
        create({}, "1.44", host=sub)
    img = {"Mounts": [{"Type": "image", "Source": "busybox", "Target": "/y"}]}
    with pytest.raises(InvalidParameter, match=r'Mount type "Image" needs API v1\.48 or newer'):
        create({}, "1.47", host=img)
    rro = {
        "Mounts": [{"Type": "bind", "Source": "/x", "Target": "/y", "BindOptions": {"ReadOnlyForceRecursive": True}}]
    }
    with pytest.raises(InvalidParameter, match=r"ReadOnlyForceRecursive needs API v1\.44"):
        create({}, "1.43", host=rro)


def test_create_fields_a_version_lacks_are_reset():
    hc = {"Test": ["CMD", "true"], "StartInterval": 5}
    spec = create({"Healthcheck": dict(hc)}, "1.42", host={"Annotations": {"a": "b"}})
    assert "StartInterval" not in spec.config["Healthcheck"] and "Annotations" not in spec.host_config
    spec = create({"Healthcheck": dict(hc)}, "1.43", host={"Annotations": {"a": "b"}})
    assert "StartInterval" not in spec.config["Healthcheck"] and spec.host_config["Annotations"] == {"a": "b"}
    spec = create(
        {"Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5}}, "1.44", host={"Annotations": {"a": "b"}}
    )
    assert spec.config["Healthcheck"]["StartInterval"] == 5 and spec.host_config["Annotations"] == {"a": "b"}
    spec = create({}, "1.47", net={"EndpointsConfig": {"n": {"GwPriority": 3}}})
    assert "GwPriority" not in spec.networking_config["EndpointsConfig"]["n"]


def test_create_container_wide_mac_moves_to_the_endpoint():
    spec = create({"MacAddress": "02:42:ac:11:00:09"}, "1.41")
    assert (
        spec.networking_config["EndpointsConfig"]["bridge"]["MacAddress"] == "02:42:ac:11:00:09" and not spec.warnings
    )
    spec = create({"MacAddress": "02:42:ac:11:00:09"}, "1.44")
    assert spec.networking_config["EndpointsConfig"]["bridge"]["MacAddress"] == "02:42:ac:11:00:09"
    assert spec.warnings == [
        "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."
    ]
    assert "MacAddress" not in create({"MacAddress": "02:42:ac:11:00:09"}, "1.52").networking_config.get(
        "EndpointsConfig", {}
    ).get("bridge", {})
    with pytest.raises(InvalidParameter, match="conflicting options: mac-address and the network mode"):
        create({"MacAddress": "02:42:ac:11:00:09"}, "1.41", host={"NetworkMode": "host"})
    # below 1.44 an endpoint MAC is ignored (the old API had none)
    spec = create({}, "1.43", net={"EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:00:09"}}})
    assert "MacAddress" not in spec.networking_config["EndpointsConfig"]["bridge"]


def test_create_warnings_of_1_48_and_1_52():
    host = {"VolumeDriver": "local", "Mounts": [{"Type": "volume", "Source": "v", "Target": "/y"}]}
    assert create({}, "1.47", host=host).warnings == []
    assert "container-wide volume-driver" in create({}, "1.48", host=host).warnings[0]
    ports = {"PortBindings": {"80/tcp": []}}
    assert create({}, "1.51", host=ports).warnings == []
    assert create({}, "1.52", host=ports).warnings == [
        "Following container port(s) have an empty list of port-bindings: 80/tcp. "
        "Such bindings will be discarded in a future version."
    ]


def test_create_for_version_is_the_one_version_function():
    assert tcc.create_in is tr.create_in


def test_unknown_log_driver_refused_at_create():
    with pytest.raises(InvalidParameter, match='error looking up logging plugin nope: plugin "nope" not found'):
        validation.container_create({}, {"LogConfig": {"Type": "nope"}}, validation.HostLimits())
    validation.container_create({}, {"LogConfig": {"Type": "local"}}, validation.HostLimits())


# ------------------------------------------------------------------ images, system, networks


def image(**cfg):
    base = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]}, "rootfs": {"diff_ids": []}}
    return types.SimpleNamespace(
        id="sha256:" + "c" * 64,
        config={**base, **cfg},
        familiar_tags=["busybox:latest"],
        familiar_digests=[],
        repo_tags=["busybox:latest"],
        parent="",
        size=10,
        diff_ids=[],
        last_tag_time="",
        created_unix=1,
        container_config={},
    )


def test_image_inspect_1_52_omits_empty_fields_and_unset_config():
    old, new = tri.inspect(image(), [], V("1.51")), tri.inspect(image(), [], V("1.52"))
    assert {"Parent", "Comment", "DockerVersion", "Author"} <= set(old)
    assert not {"Parent", "Comment", "DockerVersion", "Author"} & set(new)
    assert old["Config"]["Env"] is None and old["Config"]["WorkingDir"] == ""
    assert new["Config"] == {"Cmd": ["sh"]}


def test_image_list_containers_counted_from_1_51():
    count = {"sha256:" + "c" * 64: 2}.get
    assert tri.list_item(image(), ["busybox:latest"], V("1.50"), count)["Containers"] == -1
    assert tri.list_item(image(), ["busybox:latest"], V("1.51"), count)["Containers"] == 2


def test_image_platform_parameters():
    assert tri.platforms_in(['{"os":"linux","architecture":"amd64"}'], V("1.47"), since="1.48") == []
    with pytest.raises(InvalidParameter, match="both OS and Architecture must be provided"):
        tri.platforms_in(['{"os":"linux"}'], V("1.48"), since="1.48")
    two = ['{"os":"linux","architecture":"amd64"}'] * 2
    with pytest.raises(InvalidParameter, match=r"use API version 1\.52 or later"):
        tri.platforms_in(two, V("1.51"), since="1.48", several_since="1.52")
    assert len(tri.platforms_in(two, V("1.52"), since="1.48", several_since="1.52")) == 2
    with pytest.raises(Exception, match=r"does not match the specified platform \(linux/arm64\)"):
        tri.check_platforms(
            "busybox", {"os": "linux", "architecture": "amd64"}, [{"os": "linux", "architecture": "arm64"}]
        )
    with pytest.raises(InvalidParameter, match="conflicting options: manifests and platform"):
        tri.inspect_options("1", '{"os":"linux","architecture":"amd64"}', V("1.49"))
    with pytest.raises(InvalidParameter, match="identity requires manifests=1"):
        tri.list_options(False, True, V("1.54"))


def info(v):
    host = types.SimpleNamespace(
        architecture="amd64",
        kernel_version="6",
        operating_system="x",
        os_version="1",
        ncpu=2,
        mem_total=1,
        hostname="h",
        cgroup_driver="cgroupfs",
        cgroup_version="1",
        runc_version="1",
    )
    st = types.SimpleNamespace(
        log_level="info",
        log_driver="json-file",
        debug=False,
        data_root="/d",
        hosts=[],
        tls_enabled=False,
        verify_clients=False,
        insecure_registries=[],
        registry_mirrors=[],
        labels=[],
        seccomp_profile="builtin",
        no_new_privileges=False,
        default_cgroupns_mode="host",
    )
    return trs.info_body(
        engine_id="id", host=host, settings=st, counts={}, images=0, listeners=0, python_version="p", v=V(v)
    )


def test_info_fields_by_version():
    assert "CDISpecDirs" not in info("1.43") and info("1.44")["CDISpecDirs"] == []
    assert "AllowNondistributableArtifactsCIDRs" in info("1.46")["RegistryConfig"]
    assert "AllowNondistributableArtifactsCIDRs" not in info("1.47")["RegistryConfig"]
    assert "FirewallBackend" not in info("1.48") and info("1.49")["FirewallBackend"] == {"Driver": "iptables"}
    assert info("1.48")["RuncCommit"] == {"ID": "", "Expected": ""} and info("1.49")["RuncCommit"] == {"ID": ""}
    assert "BridgeNfIptables" in info("1.49") and "BridgeNfIptables" not in info("1.50")
    assert "KernelMemoryTCP" in info("1.51") and "KernelMemoryTCP" not in info("1.52")


def test_system_df_shapes():
    imgs = [{"Containers": 1, "Size": 10, "SharedSize": 0}, {"Containers": 0, "Size": 5, "SharedSize": 0}]
    old = trs.df_out(
        images=imgs, layers_size=15, containers=None, volumes=None, build_cache=[], verbose=False, v=V("1.41")
    )
    assert old["BuilderSize"] == 0 and old["Containers"] is None
    assert "BuilderSize" not in trs.df_out(
        images=imgs, layers_size=15, containers=None, volumes=None, build_cache=[], verbose=False, v=V("1.42")
    )
    new = trs.df_out(
        images=imgs, layers_size=15, containers=None, volumes=None, build_cache=None, verbose=True, v=V("1.52")
    )
    assert new == {"ImageUsage": {"ActiveCount": 1, "Items": imgs, "Reclaimable": 5, "TotalCount": 2, "TotalSize": 15}}
    both = trs.df_out(
        images=imgs, layers_size=15, containers=None, volumes=None, build_cache=None, verbose=False, v=V("1.52")
    )
    assert both["Images"] == imgs and "ImageUsage" in both and "Containers" not in both
    with pytest.raises(InvalidParameter, match="unknown object type: nope"):
        trs.df_types(["nope"], V("1.42"))
    assert trs.df_types(["nope"], V("1.41")) == set(trs.DF_TYPES)


def test_network_enable_ipv4_from_1_48_and_status_from_1_52():
    n = Network(id="n" * 64, name="appnet", driver="bridge", created=1)
    body = {
        "Name": "appnet",
        "EnableIPv6": False,
        "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]},
        "Containers": {},
    }
    assert "EnableIPv4" not in trn.network_versioned(dict(body), n, V("1.47"))
    assert trn.network_versioned(dict(body), n, V("1.48"))["EnableIPv4"] is True
    assert "Status" not in trn.network_versioned(dict(body), n, V("1.51"), endpoints=2)
    status = trn.network_versioned(dict(body), n, V("1.52"), endpoints=2)["Status"]
    assert status == {"IPAM": {"Subnets": {"10.9.0.0/24": {"IPsInUse": 5, "DynamicIPsAvailable": 251}}}}
    assert "Containers" in trn.network_versioned(
        dict(body), n, V("1.51")
    ) and "Containers" not in trn.network_versioned(dict(body), n, V("1.52"))
    assert trn.connect_endpoint_in({"MacAddress": "x"}, V("1.53")) == {}
    assert trn.connect_endpoint_in({"MacAddress": "x"}, V("1.54")) == {"MacAddress": "x"}


def test_minimum_version_of_a_route():
    with pytest.raises(InvalidParameter, match=r"GET /secrets requires minimum API version 1\.25"):
        require(V("1.24"), "1.25", "GET", "/secrets")


def test_list_command_quotes_arguments_with_spaces_as_dockerd():
    c = container()
    c.path, c.args = "sh", ["-c", "echo hi; sleep 1"]
    assert tr.command_text(c) == "sh -c 'echo hi; sleep 1'"
