"""What ``bgpoison run`` checks before any case runs: the data path, the output folder (every
file it will write), and the BLAS threads each process gets. Each raises ``UsageError`` (exit
status 2, one line) naming what is wrong."""
import os
import stat
import sys
import tempfile
from pathlib import Path

from ..threads import EXTRA
from .flags import UsageError
from .results import RESULTS, SUMMARY


def check_data_path(path):
    """UsageError unless ``path`` is missing (the reader names it), a regular file or a folder:
    reading a FIFO blocks forever and a device such as /dev/zero never ends."""
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise UsageError(f"cannot read --data-path {path}: {err.strerror}")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UsageError(f"--data-path {path} is not a regular file or a folder")


def check_out(out):
    """The output folder, made if need be; UsageError naming the file, before any case runs,
    if a file the run writes is not a regular file (e.g. a folder named summary.csv) or not
    writable, or if no file can be written in the folder (read-only, or a full disk)."""
    from .report import FIGURES
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output folder {out}: {err.strerror}")
    for name in (RESULTS, SUMMARY, *FIGURES):
        path = out / name
        if path.exists() and not path.is_file():
            raise UsageError(f"{path} is in the way: the run writes a file there but it is not "
                             "a regular file; move it or choose another --out")
    for path in (out, out / RESULTS):
        if path.exists() and not os.access(path, os.W_OK):
            raise UsageError(f"{'output folder' if path == out else 'results file'} {path} "
                             "is not writable")
    try:                                     # root passes os.access: write one byte for real
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-check.", suffix=".tmp")
        try:
            os.write(fd, b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise UsageError(f"cannot write files in output folder {out}: {err.strerror}")
    return out


BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def blas_limit(args):
    """BLAS threads per process for this run: --blas-threads, 1 if not given, None for
    'default'. Without threadpoolctl: an error if the flag was typed, else None and a note."""
    n = {None: 1, "default": None}.get(args.blas_threads, args.blas_threads)
    if n is None:
        return None
    try:
        import threadpoolctl                                   # noqa: F401
    except ImportError:
        if args.blas_threads is not None:
            raise UsageError(f"--blas-threads needs threadpoolctl; install it with {EXTRA}")
        if not any(os.environ.get(v) for v in BLAS_VARIABLES):
            print("bgpoison: note: threadpoolctl is not installed, so BLAS runs on the "
                  "machine's default threads, which can be many times slower while other work "
                  f"runs; install it with {EXTRA}, or set OMP_NUM_THREADS=1", file=sys.stderr)
        return None
    return n
