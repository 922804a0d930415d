"""Engine layer: one classic build, step by step (dockerd's builder/dockerfile evaluator and dispatchers).

Every step commits an image through the image service: metadata steps an empty layer,
COPY/ADD/WORKDIR the diff of a step root made by the files port, RUN the diff of a real
container run through the container service (create, attach, start, wait, remove), the
same runtime core as `docker run`. Before a step runs, the classic cache is probed: a child
of the current image whose stored container config matches (the instruction sits in its
Cmd, with the build args of a RUN and the content checksum of a COPY/ADD).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import posixpath
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shim.engine.build import platform as platforms
from shim.engine.build import state as st
from shim.engine.build.dockerfile import Command, Dockerfile, Stage, needs_buildkit, parse_trigger
from shim.engine.build.shell import Env, Lex
from shim.engine.model import BuildMessage, BuildOptions, CreateSpec
from shim.engine.imageports import BuildCopySource, BuildFilesPort
from shim.errors import InvalidParameter, NotFound, ShimError

Emit = Callable[[BuildMessage], Awaitable[None]]
T = TypeVar("T")


class BuildFailed(ShimError):
    """A step failed: the message (and a RUN's exit code) go into the stream."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(slots=True)
class Ports:
    images: Any  # engine.images.ImageService
    containers: Any  # engine.containers.ContainerService
    runtime: Any  # upper_dir(cid) of a RUN container
    files: BuildFilesPort
    pull: Callable[
        [str, str, BuildOptions], Awaitable[None]
    ]  # (ref, platform, options): FROM of an image not in the store
    record: Callable[[str, str, bool], Awaitable[None]]  # (image id, parent, cache hit) for the build cache


class Builder:
    def __init__(self, ports: Ports, options: BuildOptions, df: Dockerfile, context: str, workspace: str, emit: Emit):
        self.p = ports
        self.opts = options
        self.df = df
        self.context = context
        self.workspace = workspace
        self.emit = emit
        self.lex = Lex(df.escape)
        self.stages: list[tuple[str, str]] = []  # (name, image id) of finished stages
        self.containers: list[str] = []  # intermediate containers not yet removed
        self._inflight: set[asyncio.Future[Any]] = set()  # file work in threads, see blocking()
        self._child_index: dict[str, list[str]] | None = None  # parent image -> children, see _children()

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Blocking file work in a thread. A cancelled build does not wait for it, but its cleanup
        must (a thread still mounting or copying into the workspace would race its removal): the
        thread is shielded from the cancellation and drain() waits for what is still running."""
        fut: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        self._inflight.add(fut)
        fut.add_done_callback(self._inflight.discard)
        return await asyncio.shield(fut)

    async def drain(self) -> None:
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def say(self, text: str) -> None:
        await self.emit(BuildMessage(stream=text))

    async def step(self, n: int, total: int, what: str) -> None:
        # printCommand: Fprintf of the step, then Fprintln: two messages in dockerd's stream
        await self.say(f"Step {n}/{total} : {what}")
        await self.say("\n")

    # --- the whole build --------------------------------------------------------------------
    async def run(self) -> str:
        stages = self.df.stages
        args = st.BuildArgs(dict(self.opts.build_args))
        total = len(self.df.meta_args) + len(stages) + sum(len(s.commands) for s in stages)
        n = 1
        for meta in self.df.meta_args:
            await self.step(n, total, meta.original)
            n += 1
            env = Env([f"{k}={v}" for k, v in args.all_allowed().items()])
            for raw in meta.args:
                key, eq, value = raw.partition("=")
                key = st.expand(self.lex, key, env)
                val = st.expand(self.lex, value, env) if eq else None
                args.add_arg(key, val)
                args.add_meta_arg(key, val)
        state = st.StageState(build_args=args)
        for stage in stages:
            if stage.name and any(name == stage.name for name, _ in self.stages):
                raise BuildFailed(f"{stage.name} stage name already used")
            state = st.StageState(build_args=args.clone())
            state.build_args.allowed = {}
            await self.step(n, total, stage.original)
            n += 1
            await self.from_(state, stage)
            await self.say(f" ---> {_short(state.image_id)}\n")
            for cmd in stage.commands:
                await self.step(n, total, cmd.original)
                n += 1
                await self.dispatch(state, cmd)
                await self.say(f" ---> {_short(state.image_id)}\n")
            if state.image_id:
                await self.emit(BuildMessage(aux_id=state.image_id))
            args.referenced |= state.build_args.referenced
            self.stages.append((stage.name, state.image_id))
        warning = args.unused_warning()
        if warning:
            await self.say(warning)
        if not state.image_id:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        return state.image_id

    async def from_(self, state: st.StageState, stage: Stage) -> None:
        meta = Env([f"{k}={v}" for k, v in state.build_args.all_meta().items()])
        name = st.expand(self.lex, stage.base_name, meta)
        if not name:
            raise BuildFailed(f"base name ({stage.base_name}) should not be blank")
        want = self._platform(st.expand(self.lex, stage.platform, meta) if stage.platform else self.opts.platform)
        image_id, config = await self.base_image(name.lower() if self._stage(name.lower()) else name, want)
        state.begin(stage.name, image_id, config)
        triggers = list(state.run_config.get("OnBuild") or [])
        state.run_config["OnBuild"] = None
        if triggers:
            await self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for expr in triggers:
                try:
                    trigger = parse_trigger(expr)
                except InvalidParameter as e:
                    raise BuildFailed(e.message) from None
                await self.dispatch(state, trigger)

    def _stage(self, name: str) -> str | None:
        for stage_name, image_id in self.stages:
            if stage_name and stage_name == name:
                return image_id
        return None

    def _platform(self, spec: str) -> platforms.Platform | None:
        if not spec:
            return None
        try:
            return platforms.parse(spec, self.p.images.host_arch)
        except InvalidParameter as e:
            raise BuildFailed(f"failed to parse platform {spec}: {e.message}") from None

    async def base_image(self, name: str, want: platforms.Platform | None) -> tuple[str, dict[str, Any]]:
        """An earlier stage, scratch, or an image (pulled first if not in the store, or with `pull`),
        of the platform asked for (module platform)."""
        stage_id = self._stage(name)
        if stage_id is not None:
            return stage_id, self.p.images.get(stage_id).config if stage_id else {}
        if name == "scratch":
            if want is not None and want.os != "linux":
                raise BuildFailed("operating system is not supported")
            arch = {"architecture": want.arch} if want is not None else {}
            return "", {"os": "linux", **arch, "config": {}}
        if self.opts.pull:
            await self.p.pull(name, str(want or ""), self.opts)
        try:
            img = self.p.images.get(name)
        except NotFound:
            await self.p.pull(name, str(want or ""), self.opts)
            img = self.p.images.get(name)
        have = platforms.image_platform(img.config)
        if want is not None and not platforms.matches(want, have):
            # a local image of another platform: that platform is pulled (as dockerd with the
            # containerd image store); if it can't be, dockerd's lookup message says why
            with contextlib.suppress(BuildFailed, NotFound):
                await self.p.pull(name, str(want), self.opts)
                img = self.p.images.get(name)
                have = platforms.image_platform(img.config)
            if not platforms.matches(want, have):
                raise BuildFailed(platforms.mismatch(name, want, have))
        return img.id, img.config

    # --- one instruction ----------------------------------------------------------------------
    async def dispatch(self, state: st.StageState, cmd: Command) -> None:
        state.run_config["Image"] = state.image_id
        if cmd.buildkit_flags:
            raise BuildFailed(needs_buildkit("--" + cmd.buildkit_flags[0]))
        ok = False
        try:
            if cmd.kind == "run":
                await self.run_step(state, cmd)
            elif cmd.kind in ("copy", "add"):
                await self.copy_step(state, cmd)
            elif cmd.kind == "workdir":
                await self.workdir_step(state, cmd)
            else:
                notes: list[str] = []
                try:
                    msg = st.apply_metadata(cmd, state, self.lex, notes)
                except InvalidParameter as e:
                    raise BuildFailed(e.message) from None
                for line in notes:
                    await self.say(line)
                probe = st.with_cmd(state.run_config, st.comment_cmd(state, msg, single=False))
                if not await self.probe(state, probe):
                    await self.commit(state, probe, layer_tar="", container="")
            ok = True
        finally:
            if self.opts.force_remove or (self.opts.remove and ok):
                await self.remove_containers()

    async def probe(self, state: st.StageState, probe: dict[str, Any]) -> bool:
        """probeCache: a child of the current image made from the same container config."""
        if self.opts.no_cache:
            return False
        hit = self.cached(state.image_id, probe)
        if not hit:
            return False
        await self.say(" ---> Using cache\n")
        await self.p.record(hit, state.image_id, True)
        state.image_id = hit
        return True

    def cached(self, parent: str, probe: dict[str, Any]) -> str:
        best, best_created = "", ""
        for img in self._children(parent):
            cc = img.config.get("container_config")
            if cc is None or not st.same_config(cc, probe):
                continue
            if self.opts.cache_from and not self._from_cache_source(img.id):
                continue
            if img.config.get("created", "") >= best_created:
                best, best_created = img.id, img.config.get("created", "")
        return best

    def _children(self, parent: str) -> list[Any]:
        """The store's images made from `parent`, through an index of the store taken once per build
        (a scan of every image per step was most of a cached step's lookup in a large store); the
        build's own commits are added to it, images removed meanwhile are skipped."""
        if self._child_index is None:
            index: dict[str, list[str]] = {}
            for img in self.p.images.all():
                index.setdefault(img.parent, []).append(img.id)
            self._child_index = index
        images = self.p.images.images
        return [img for i in self._child_index.get(parent, []) if (img := images.get(i)) is not None]

    def _from_cache_source(self, image_id: str) -> bool:
        """With --cache-from a local hit counts only on the chain of one of those images (dockerd's
        ImageCache): walk each source's parents."""
        for ref in self.opts.cache_from:
            try:
                cur = self.p.images.get(ref)
            except (NotFound, InvalidParameter):
                continue
            while cur is not None:
                if cur.id == image_id:
                    return True
                cur = self.p.images.images.get(cur.parent) if cur.parent else None
        return False

    async def commit(
        self, state: st.StageState, container_config: dict[str, Any], *, layer_tar: str, container: str
    ) -> None:
        parent = state.base_config if state.image_id == "" else self.p.images.get(state.image_id).config
        config = st.child_config(
            parent,
            config=state.run_config,
            container_config=container_config,
            author=state.maintainer,
            container=container,
            empty_layer=not layer_tar,
            created=st.rfc3339_now(),
        )
        new_id = await self.p.images.add_built(parent_id=state.image_id, config=config, layer_tar=layer_tar)
        if self._child_index is not None:
            self._child_index.setdefault(state.image_id, []).append(new_id)
        await self.p.record(new_id, state.image_id, False)
        state.image_id = new_id

    # --- RUN --------------------------------------------------------------------------------------
    async def run_step(self, state: st.StageState, cmd: Command) -> None:
        rc = state.run_config
        argv = st.cmd_line(cmd, state) or []
        build_env = state.build_args.filter_allowed(list(rc.get("Env") or []))
        save_cmd = st.prepend_env(state.build_args, build_env, argv) if build_env else argv
        probe = st.with_cmd(rc, save_cmd)
        if save_cmd:
            probe["Entrypoint"] = None
        if await self.probe(state, probe):
            return
        config = st.with_cmd(rc, argv)
        config["Env"] = list(rc.get("Env") or []) + build_env
        config["Entrypoint"] = [""]
        config["Healthcheck"] = {"Test": ["NONE"]}
        config["Image"] = state.image_id or "scratch"
        if not state.image_id:
            raise BuildFailed("Please provide a source image with `from` prior to run")
        c, warnings = await self.p.containers.create(
            CreateSpec(name="", config=config, host_config=dict(self.opts.host_config), networking_config={})
        )
        self.containers.append(c.id)
        for w in warnings:
            await self.say(f" ---> [Warning] {w}\n")
        await self.say(f" ---> Running in {c.id[:12]}\n")
        code = await self.run_container(c.id)
        if code != 0:
            raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
        layer = await self.blocking(self.p.files.layer_tar, self.p.runtime.upper_dir(c.id))
        await self.commit(state, probe, layer_tar=layer, container=c.id)

    async def run_container(self, cid: str) -> int:
        session = await_attach = None
        exited = self.p.containers.wait(cid, "next-exit")
        await_attach = asyncio.ensure_future(self.p.containers.attach(cid, stream=True))
        try:
            await asyncio.sleep(0)
            await self.p.containers.start(cid)
            session = await await_attach
            async for _stream, data in session.output():
                await self.say(data.decode("utf-8", "replace"))
            code, _err = await exited
            return int(code)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.p.containers.kill(cid, "SIGKILL")
            raise
        finally:
            if session is not None:
                await session.close()
            elif not await_attach.done():
                await_attach.cancel()

    async def remove_containers(self) -> None:
        while self.containers:
            cid = self.containers.pop(0)
            try:
                await self.p.containers.remove(cid, force=True)
            except ShimError as e:
                await self.say(f"Could not remove intermediate container {cid[:12]}: {e.message}\n")
                continue
            await self.say(f"Removing intermediate container {cid[:12]}\n")

    async def cleanup_after_failure(self) -> None:
        """A cancelled or failed build: whatever intermediate container is left goes (and its process)."""
        await self.remove_containers()

    # --- COPY / ADD ------------------------------------------------------------------------------
    async def copy_step(self, state: st.StageState, cmd: Command) -> None:
        env = state.envs()
        name = cmd.kind.upper()
        words = [st.expand(self.lex, a, env) for a in cmd.args]
        srcs, dest = words[:-1], words[-1]
        chown = st.expand(self.lex, cmd.flags.get("chown", ""), env)
        chmod = _chmod(st.expand(self.lex, cmd.flags.get("chmod", ""), env))
        from_ref = cmd.flags.get("from", "")
        src_root = self.context
        mounted_from = None
        try:
            if from_ref:
                image_id = await self._copy_from_image(from_ref)
                layer_dirs = self.p.images.image_for_container(image_id).layer_dirs if image_id else []
                mounted_from = await self.blocking(self.p.files.mount_step, self.workspace, layer_dirs)
                src_root = mounted_from.merged
            sources = await self._sources(state, cmd, srcs, src_root)
            hashes = [s.checksum for s in sources]
            src_hash = (
                hashes[0] if len(hashes) == 1 else "multi:" + hashlib.sha256(",".join(hashes).encode()).hexdigest()
            )
            chown_comment = f"--chown={chown} " if chown else ""
            comment = f"{name} {chown_comment}{src_hash} in {dest} "
            probe = st.with_cmd(state.run_config, st.comment_cmd(state, comment, single=True))
            if await self.probe(state, probe):
                return
            target = st.normalize_dest(state.run_config.get("WorkingDir") or "", dest)
            layer = await self._in_step_root(
                state, lambda root: self._do_copy(root, src_root, sources, target, chown, chmod, from_ref, name)
            )
            await self.commit(state, probe, layer_tar=layer, container="")
        finally:
            if mounted_from is not None:
                await self.blocking(self.p.files.unmount_step, mounted_from)

    def _do_copy(self, root: Any, src_root: str, sources: list[BuildCopySource], target: str, chown: str,
                 chmod: int | None, from_ref: str, name: str) -> None:  # fmt: skip
        owner: tuple[int, int] | None = (0, 0)
        if chown:
            owner = self.p.files.chown_ids(root, chown)
        elif from_ref:
            owner = None  # --from without --chown keeps the owners (preserveOwnership)
        self.p.files.copy(root, src_root, sources, target, owner=owner, chmod=chmod, unpack=name == "ADD")

    async def _sources(
        self, state: st.StageState, cmd: Command, srcs: list[str], src_root: str
    ) -> list[BuildCopySource]:
        local = [s for s in srcs if not _is_url(s)]
        remote = [s for s in srcs if _is_url(s)]
        if remote and cmd.kind == "copy":
            raise BuildFailed("source can't be a URL for COPY")
        try:
            out = await self.blocking(self.p.files.sources, src_root, local, cmd.kind.upper()) if local else []
            for url in remote:
                path, fname, _mtime = await self.blocking(self.p.files.fetch_url, self.workspace, url)
                got = await self.blocking(self.p.files.sources, posixpath.dirname(path), ["file"], "ADD")
                out.append(dataclasses.replace(got[0], name=fname, rel=fname))
        except ShimError as e:
            raise BuildFailed(e.message) from None
        return out

    async def _copy_from_image(self, ref: str) -> str:
        by_name = self._stage(ref.lower())
        if by_name is not None:
            return by_name
        if ref.isdigit():
            i = int(ref)
            if i == len(self.stages):
                raise BuildFailed(f"invalid from flag value {ref}: refers to current build stage")
            if i > len(self.stages):
                raise BuildFailed(f"invalid from flag value {ref}: index out of bounds")
            return self.stages[i][1]
        try:
            return str(self.p.images.get(ref).id)
        except NotFound:
            await self.p.pull(ref, "", self.opts)
            return str(self.p.images.get(ref).id)

    async def _in_step_root(self, state: st.StageState, work: Callable[[Any], None]) -> str:
        """Mount the current image's layers with a fresh upper dir, do `work` (blocking), take the diff."""
        layer_dirs = self.p.images.image_for_container(state.image_id).layer_dirs if state.image_id else []
        root = await self.blocking(self.p.files.mount_step, self.workspace, layer_dirs)
        try:
            try:
                await self.blocking(work, root)
            except ShimError as e:
                raise BuildFailed(e.message) from None
            except OSError as e:
                raise BuildFailed(f"failed to copy files: {e}") from None
        finally:
            await self.blocking(self.p.files.unmount_step, root)
        return await self.blocking(self.p.files.layer_tar, root.upper)

    # --- WORKDIR ---------------------------------------------------------------------------------
    async def workdir_step(self, state: st.StageState, cmd: Command) -> None:
        path = st.expand(self.lex, cmd.args[0], state.envs())
        rc = state.run_config
        rc["WorkingDir"] = st.normalize_workdir(rc.get("WorkingDir") or "", path)
        probe = st.with_cmd(rc, st.comment_cmd(state, "WORKDIR " + rc["WorkingDir"], single=True))
        if await self.probe(state, probe):
            return
        wd = rc["WorkingDir"]
        layer = await self._in_step_root(state, lambda root: self.p.files.mkdir(root, wd))
        await self.commit(state, probe, layer_tar=layer, container="")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _chmod(text: str) -> int | None:
    if not text:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise BuildFailed(f"invalid chmod parameter: {text}") from None
    if mode > 0o7777:
        raise BuildFailed(f"invalid chmod parameter: {text}")
    return mode
