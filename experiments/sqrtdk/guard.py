"""Read a file in a child process, so that a damaged file cannot take the caller down with it.

libhdf5 trusts a file's metadata: a flipped byte can make it crash (SIGSEGV), loop for ever, or ask for
gigabytes because a damaged extent claims billions of elements. Users read run files from notebooks,
where any of these would kill the kernel. So every read of a file (reader.py, theory.py, and through
them every plot command) runs in a forked child with
  * a wall-time limit (SQRTDK_READ_TIMEOUT seconds, default 60 + 1 per 10 MB of file), and
  * an address-space limit (RLIMIT_AS: what the process already maps plus SQRTDK_READ_MEMORY_MB,
    default 1024 + 4 x the file's size in MB),
and sends back what it read (pickled; runs carry their series only, not their weight matrices, so this
is small). A child that crashes, runs out of time or memory, or raises anything but InputError becomes a
DamagedFile naming the file and what happened, one line. Where fork() does not exist the read runs in
the caller's process, unguarded.
"""

import os
import pickle
import select
import signal
import time


class InputError(Exception):
    """A problem with the files or options given; the command line reports it as one line, exit code 2."""


class DamagedFile(InputError):
    """A file that exists and claims to be a run (or theory) file but cannot be read as one: HDF5 refused
    it, crashed or looped on it, or it claims more data than it can hold."""


# Shown as `sqrtdk.InputError` / `sqrtdk.DamagedFile` in a notebook's traceback: the names users import.
InputError.__module__ = DamagedFile.__module__ = "sqrtdk"

MB = 1 << 20


def first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _env_number(name, default):
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}={text!r}: expected a number") from None
    if not value > 0 or value == float("inf"):
        raise InputError(f"{name}={text!r}: expected a positive number")
    return value


def limits(path):
    """(seconds, extra bytes of address space) allowed for reading `path`."""
    try:
        size_mb = os.path.getsize(path) / MB
    except OSError:
        size_mb = 0.0
    seconds = _env_number("SQRTDK_READ_TIMEOUT", 60 + size_mb / 10)
    memory_mb = _env_number("SQRTDK_READ_MEMORY_MB", 1024 + 4 * size_mb)
    return seconds, int(memory_mb * MB)


def _mapped_bytes():
    """The process's current address space (VmSize), which the child inherits; 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _child(write_fd, fn, path, extra_bytes):
    """In the child: limits, fn(path), the outcome pickled to write_fd, then exit without cleanup."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)   # Ctrl-C ends the child; the parent reports it
        try:
            import ctypes   # die with the parent (PR_SET_PDEATHSIG = 1) rather than read on alone
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        # Everything the child has to say goes through the pipe: what libc or libhdf5 print on the way down
        # ("free(): invalid pointer" before an abort) would make the parent's one-line error two.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # a crash leaves no core file behind
        mapped = _mapped_bytes()
        if mapped:
            limit = mapped + extra_bytes
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        try:
            outcome = ("ok", fn(path))
        except DamagedFile as exc:
            outcome = ("damaged", str(exc))
        except InputError as exc:
            outcome = ("input", str(exc))
        except MemoryError:
            outcome = ("damaged", f"{path}: damaged: reading it needs more memory than allowed "
                                  f"({extra_bytes // MB} MB; a damaged size? SQRTDK_READ_MEMORY_MB raises it)")
        except RecursionError:
            outcome = ("damaged", f"{path}: damaged: its groups nest without end")
        except BaseException as exc:  # anything libhdf5/h5py/NumPy raise on damaged metadata
            outcome = ("damaged", f"{path}: damaged: {type(exc).__name__}: {first_line(exc)}")
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps(("damaged", f"{path}: damaged: what it holds does not fit in the memory allowed"))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def guarded(fn, path):
    """fn(path) run in a forked child with the limits above; its result, or its InputError, re-raised
    here; DamagedFile for a crash, a hang, a memory blow-up or any other exception. fn must be picklable
    in what it returns."""
    if not hasattr(os, "fork"):
        return fn(path)
    seconds, extra_bytes = limits(path)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(write_fd, fn, path, extra_bytes)
    os.close(write_fd)
    chunks, timed_out, finished = [], False, False
    try:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        finished = not timed_out
    finally:
        os.close(read_fd)
        if not finished:   # timed out, or interrupted while waiting: never leave the child behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise DamagedFile(f"{path}: damaged: reading it took longer than {seconds:g} s "
                          "(HDF5 loops on damaged metadata; SQRTDK_READ_TIMEOUT allows longer)")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGINT:
            raise KeyboardInterrupt
        raise DamagedFile(f"{path}: damaged: reading it crashed libhdf5 ({_signal_name(sig)})")
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:
        raise DamagedFile(f"{path}: damaged: reading it ended without a result") from None
    if kind == "ok":
        return value
    raise (DamagedFile if kind == "damaged" else InputError)(value)
