"""Unit: runcexe's sealed copy of runc: what runc 1.1's is_self_cloned accepts, writable by no
one (root included), and runc's own file whenever a copy can't be had or is out of date."""

from __future__ import annotations

import fcntl
import mmap
import os
import shutil
import subprocess

import pytest

from shim.runtime import runcexe

RUNC = shutil.which("runc")


@pytest.mark.skipif(RUNC is None, reason="needs runc")
def test_copy_is_sealed_as_runc_requires_and_runs():
    assert RUNC is not None
    exe = runcexe.SealedRunc(RUNC)
    try:
        path = exe.path()
        assert path.startswith(f"/proc/{os.getpid()}/fd/")
        fd = os.open(path, os.O_RDONLY)
        try:
            # exactly RUNC_MEMFD_SEALS of runc 1.1's cloned_binary.c: any other set and runc clones again
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == 0xF
        finally:
            os.close(fd)
        with open(path, "rb") as f, open(RUNC, "rb") as g:
            assert f.read() == g.read()
        ran = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
        assert ran.stdout.startswith("runc version")
        assert exe.path() == path  # made once
    finally:
        exe.close()


@pytest.mark.skipif(RUNC is None, reason="needs runc")
def test_copy_cannot_be_changed_by_anyone():
    assert RUNC is not None
    exe = runcexe.SealedRunc(RUNC)
    try:
        path = exe.path()
        before = open(path, "rb").read()
        fd = os.open(path, os.O_RDWR)  # what CVE-2019-5736's payload does through /proc/PID/exe
        try:
            with pytest.raises(PermissionError):
                os.write(fd, b"\x7fELF evil")
            with pytest.raises(PermissionError):
                os.pwrite(fd, b"evil", 4096)
            with pytest.raises(PermissionError):
                os.ftruncate(fd, 0)
            with pytest.raises(PermissionError):
                os.ftruncate(fd, len(before) + 1)
            with pytest.raises(PermissionError):
                mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_WRITE)
            with pytest.raises(PermissionError):  # F_SEAL_SEAL: no seal can be changed any more
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
        finally:
            os.close(fd)
        assert open(path, "rb").read() == before
    finally:
        exe.close()


def _script(path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def test_runc_replaced_on_disk_is_copied_again(tmp_path):
    prog = tmp_path / "runc"
    _script(prog, "#!/bin/sh\necho one\n")
    exe = runcexe.SealedRunc(str(prog))
    try:
        first = exe.path()
        assert subprocess.run([first], capture_output=True, text=True).stdout == "one\n"
        _script(tmp_path / "new", "#!/bin/sh\necho two, longer\n")
        os.replace(tmp_path / "new", prog)  # an upgrade: a new file in its place
        second = exe.path()
        assert second != first
        assert subprocess.run([second], capture_output=True, text=True).stdout == "two, longer\n"
        # a start that took the old path a moment ago can still exec it
        assert subprocess.run([first], capture_output=True, text=True).stdout == "one\n"
    finally:
        exe.close()


def test_runc_that_fails_from_a_copy_runs_from_its_file(tmp_path):
    prog = tmp_path / "runc"
    _script(prog, "#!/bin/sh\nexit 1\n")  # the copy's check (`--version`) fails
    exe = runcexe.SealedRunc(str(prog))
    try:
        assert exe.path() == str(prog)
        assert exe.path() == str(prog)  # not tried again for the same file
    finally:
        exe.close()


def test_missing_runc_is_passed_through(tmp_path):
    exe = runcexe.SealedRunc(str(tmp_path / "nope"))
    assert exe.path() == str(tmp_path / "nope")  # the start fails with runc's usual error
