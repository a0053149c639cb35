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
