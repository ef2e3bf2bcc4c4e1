"""The app on a real uvicorn server in a thread, bound to a free loopback port (tests, the
latency benchmark, notebooks).

Example:
    >>> from seqattn.serve import create_app
    >>> import httpx
    >>> with BackgroundServer(create_app()) as url:  # doctest: +SKIP
    ...     httpx.get(url + "/api/models").json()["models"]
    []
"""

from __future__ import annotations

import threading
import time

__all__ = ["BackgroundServer", "concurrent_posts"]


class BackgroundServer:
    """``with BackgroundServer(app) as url``: serves ``app`` on 127.0.0.1 until the block ends."""

    def __init__(self, app, start_timeout: float = 20.0) -> None:
        self.app, self.start_timeout = app, start_timeout

    def __enter__(self) -> str:
        import uvicorn

        # uvicorn binds port 0 itself: a socket handed in through ``sockets=`` answered every
        # request ~40 ms late on loopback (Nagle and delayed ACK, measured), its own bind not
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.__exit__(None, None, None)
                raise RuntimeError(f"expected uvicorn to start within {self.start_timeout} s")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def concurrent_posts(
    url: str, jobs: list[list[tuple[str, dict]]], timeout: float = 60.0
) -> list[list[tuple[int, object, float]]]:
    """Run each client's list of ``(path, body)`` POSTs on its own connection, all clients at
    once (started together by a barrier): per client, ``(status, JSON body, seconds)`` in
    order. Needs httpx. Raises TimeoutError when a client is not done within ``timeout``."""
    import httpx

    results: list[list[tuple[int, object, float]]] = [[] for _ in jobs]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def client(i: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=timeout) as c:
                barrier.wait(timeout)
                for path, body in jobs[i]:
                    t0 = time.perf_counter()
                    r = c.post(path, json=body)
                    results[i].append((r.status_code, r.json(), time.perf_counter() - t0))
        except BaseException as err:  # noqa: BLE001 - reported to the caller below
            errors.append(err)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise TimeoutError(f"expected {len(jobs)} clients to finish within {timeout} s")
    if errors:
        raise errors[0]
    return results
