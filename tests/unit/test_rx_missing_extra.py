"""Without ``reactivex``: ``import pyflymq_rx`` works, the reactive names raise MissingExtraError
naming ``pyflymq[rx]`` on use, and the pure-asyncio AsyncReactiveConsumer still works."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["reactivex"] = None  # as if the extra were not installed

    import pyflymq
    import pyflymq_rx
    from pyflymq.exceptions import MissingExtraError

    for name in ("ReactiveConsumer", "ReactiveProducer"):
        for source in (pyflymq_rx, pyflymq):
            try:
                getattr(source, name)
            except MissingExtraError as exc:
                assert exc.extra == "rx", exc.extra
                assert "pip install 'pyflymq[rx]'" in (exc.hint or ""), exc.hint
                assert "reactivex" in str(exc), str(exc)
            else:
                raise AssertionError(f"{source.__name__}.{name} did not raise")
    try:
        from pyflymq import ReactiveProducer  # noqa: F401
    except ImportError:
        pass
    else:
        raise AssertionError("from-import did not raise")

    from pyflymq import AsyncReactiveConsumer
    assert AsyncReactiveConsumer.__name__ == "AsyncReactiveConsumer"
    assert "reactivex" not in {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
    print("ok")
    """
)


def test_reactive_names_need_the_rx_extra() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_the_package_imports_nothing_heavy() -> None:
    script = (
        "import sys, pyflymq_rx; "
        "heavy = {'reactivex', 'pyflymq_core.client.async_client', 'pyflymq_rx.consumer'}; "
        "heavy &= set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
