"""With a broker, the relay kicks the drain after its replies, at most one kick at a time."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from relay.server import DrainKicks


def test_kicks_asked_for_while_one_is_in_flight_go_together_in_the_next():
    calls: list[int] = []
    release = threading.Event()

    def kick(*, limit: int) -> None:
        calls.append(limit)
        release.wait(5)

    async def scenario(kicks: DrainKicks) -> None:
        kicks.add(1)
        await asyncio.sleep(0.1)  # the first kick is running (and held)
        kicks.add(2)
        kicks.add(0)  # a job that queued nothing asks for nothing
        kicks.add(3)
        release.set()
        while kicks.running:
            await asyncio.sleep(0.01)
        kicks.add(0)
        assert not kicks.running

    with ThreadPoolExecutor(max_workers=2) as executor:
        asyncio.run(scenario(DrainKicks(executor, kick=kick)))
    assert calls == [1, 5]


def test_closing_lets_the_kick_in_flight_end_before_the_pool_shuts_down():
    """SIGTERM while a kick waits out its pause: closing sends what is waiting once, then no
    kick is started on the shut pool ("cannot schedule new futures after shutdown" in the
    relay's log, seen in CI)."""
    calls: list[int] = []
    errors: list[BaseException] = []

    def kick(*, limit: int) -> None:
        calls.append(limit)

    async def scenario(kicks: DrainKicks, executor: ThreadPoolExecutor) -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: errors.append(context.get("exception"))
        )
        kicks.add(1)
        await asyncio.sleep(0.01)  # the first kick went; the task waits out its pause
        kicks.add(2)
        await kicks.close()
        kicks.add(4)  # a job that committed during the shutdown: the periodic drain sends it
        executor.shutdown(wait=True)
        await asyncio.sleep(DrainKicks.INTERVAL * 3)
        assert not kicks.running

    executor = ThreadPoolExecutor(max_workers=2)
    asyncio.run(scenario(DrainKicks(executor, kick=kick), executor))
    assert calls == [1, 2]
    assert errors == []
